package artifacts

import (
	"strings"
	"testing"
)

func TestNewS3StoreValidates(t *testing.T) {
	valid := S3Config{Endpoint: "s3.example.com:9000", Bucket: "artifacts", AccessKeyID: "a", SecretAccessKey: "s"}
	cases := []struct {
		name    string
		mutate  func(*S3Config)
		wantErr string // "" for no error
	}{
		{name: "valid", mutate: func(*S3Config) {}},
		{name: "valid without port or region", mutate: func(c *S3Config) { c.Endpoint = "s3.example.com" }},
		{name: "valid insecure", mutate: func(c *S3Config) { c.Endpoint = "127.0.0.1:9000"; c.Insecure = true }},
		{name: "empty endpoint", mutate: func(c *S3Config) { c.Endpoint = "" }, wantErr: "empty endpoint"},
		{name: "http scheme", mutate: func(c *S3Config) { c.Endpoint = "http://127.0.0.1:9000" }, wantErr: "without a scheme"},
		{name: "https scheme", mutate: func(c *S3Config) { c.Endpoint = "https://s3.example.com" }, wantErr: "without a scheme"},
		{name: "path", mutate: func(c *S3Config) { c.Endpoint = "s3.example.com/artifacts" }, wantErr: "without a path"},
		{name: "trailing slash", mutate: func(c *S3Config) { c.Endpoint = "s3.example.com/" }, wantErr: "without a path"},
		{name: "empty bucket", mutate: func(c *S3Config) { c.Bucket = "" }, wantErr: "empty bucket"},
		{name: "invalid bucket", mutate: func(c *S3Config) { c.Bucket = "b?" }, wantErr: `bucket "b?"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			store, err := NewS3Store(cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("NewS3Store(%+v) = %v; want no error", cfg, err)
			case tc.wantErr == "" && store == nil:
				t.Fatalf("NewS3Store(%+v) = nil, nil; want a store", cfg)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("NewS3Store(%+v) = no error; want one containing %q", cfg, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("NewS3Store(%+v) = %v; want an error containing %q", cfg, err, tc.wantErr)
			}
		})
	}
}
