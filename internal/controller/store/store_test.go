package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

func experiment(secret string) *crucible.Experiment {
	return &crucible.Experiment{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		Spec: crucible.ExperimentSpec{Artifacts: &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{
			Endpoint: "s3.example:9000", Bucket: "runs", Region: "r1", Insecure: true,
			CredentialsSecret: crucible.SecretReference{Name: secret},
		}}},
	}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestSecretOpener(t *testing.T) {
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
	cases := []struct {
		name    string
		exp     *crucible.Experiment
		objs    []client.Object
		wantErr string
		wantCfg artifacts.S3Config
	}{
		{name: "credentials from the Secret", exp: experiment("c"), objs: []client.Object{secret("c", creds)},
			wantCfg: artifacts.S3Config{Endpoint: "s3.example:9000", Bucket: "runs", Region: "r1", Insecure: true,
				AccessKeyID: "AK", SecretAccessKey: "SK"}},
		{name: "no s3 store", exp: &crucible.Experiment{}, wantErr: ErrNoS3Store.Error()},
		{name: "the Secret is missing", exp: experiment("c"), wantErr: "the credentials Secret ns/c (spec.artifacts.s3.credentialsSecret) does not exist"},
		{name: "a key is missing", exp: experiment("c"), objs: []client.Object{secret("c", map[string]string{"AWS_ACCESS_KEY_ID": "AK"})},
			wantErr: "must have the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tc.objs...).Build()
			o := NewSecretOpener(reader)
			var got []artifacts.S3Config
			o.newS3 = func(cfg artifacts.S3Config) (artifacts.Store, error) {
				got = append(got, cfg)
				return artifacts.NewS3Store(cfg)
			}
			st, err := o.Open(context.Background(), tc.exp)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open error = %v; want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			again, err := o.Open(context.Background(), tc.exp)
			if err != nil {
				t.Fatalf("second Open: %v", err)
			}
			if len(got) != 1 || got[0] != tc.wantCfg || st != again {
				t.Errorf("configs made %+v, same store twice: %v; want one client for %+v, reused", got, st == again, tc.wantCfg)
			}
		})
	}
}

func TestSecretOpenerReadsRotatedCredentials(t *testing.T) {
	reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).
		WithObjects(secret("c", map[string]string{"AWS_ACCESS_KEY_ID": "old", "AWS_SECRET_ACCESS_KEY": "SK"})).Build()
	o := NewSecretOpener(reader)
	var keys []string
	o.newS3 = func(cfg artifacts.S3Config) (artifacts.Store, error) {
		keys = append(keys, cfg.AccessKeyID)
		return nil, errors.New("not connected in this test")
	}
	_, _ = o.Open(context.Background(), experiment("c"))
	if err := reader.Update(context.Background(), secret("c", map[string]string{"AWS_ACCESS_KEY_ID": "new", "AWS_SECRET_ACCESS_KEY": "SK"})); err != nil {
		t.Fatal(err)
	}
	_, _ = o.Open(context.Background(), experiment("c"))
	if strings.Join(keys, ",") != "old,new" {
		t.Errorf("access keys used: %v; want old, then the rotated one", keys)
	}
}
