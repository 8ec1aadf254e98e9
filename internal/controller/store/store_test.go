package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

// allowAll allows the endpoint of experiment() in plain HTTP.
var allowAll = Options{Endpoints: []string{"s3.example:9000"}, AllowInsecure: true}

func newOpener(t *testing.T, reader client.Reader, o Options) *SecretOpener {
	t.Helper()
	opener, err := NewSecretOpener(reader, o)
	if err != nil {
		t.Fatalf("NewSecretOpener: %v", err)
	}
	return opener
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
			o := newOpener(t, reader, allowAll)
			var got []artifacts.S3Config
			o.newS3 = func(cfg artifacts.S3Config, l artifacts.Limits) (artifacts.Store, error) {
				got = append(got, cfg)
				return artifacts.NewS3Store(cfg, l)
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
	o := newOpener(t, reader, allowAll)
	var keys []string
	o.newS3 = func(cfg artifacts.S3Config, _ artifacts.Limits) (artifacts.Store, error) {
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

// TestSecretOpenerAllowsListedEndpointsOnly: the operator sends credentials
// only to the endpoints the cluster admin listed, and only over TLS unless
// the admin allows plain HTTP; a refused store is an error that names the
// endpoint and the flag, before any Secret is read.
func TestSecretOpenerAllowsListedEndpointsOnly(t *testing.T) {
	cases := []struct {
		name      string
		opts      Options
		endpoint  string
		insecure  bool
		wantError string // "" if allowed
	}{
		{name: "no list allows none", endpoint: "s3.amazonaws.com",
			wantError: "spec.artifacts.s3.endpoint s3.amazonaws.com is not allowed: the operator allows no endpoint until a cluster admin lists them with --artifact-endpoints"},
		{name: "host", opts: Options{Endpoints: []string{"minio.storage.svc"}}, endpoint: "minio.storage.svc:9000"},
		{name: "host, another case, final dot", opts: Options{Endpoints: []string{"MinIO.storage.svc."}}, endpoint: "minio.STORAGE.svc"},
		{name: "another host", opts: Options{Endpoints: []string{"minio.storage.svc", "*.amazonaws.com"}}, endpoint: "evil.example:9000",
			wantError: "spec.artifacts.s3.endpoint evil.example:9000 is not allowed: the operator's --artifact-endpoints allows only minio.storage.svc,*.amazonaws.com"},
		{name: "host:port", opts: Options{Endpoints: []string{"minio.storage.svc:9000"}}, endpoint: "minio.storage.svc:9000"},
		{name: "another port", opts: Options{Endpoints: []string{"minio.storage.svc:9000"}}, endpoint: "minio.storage.svc:9001",
			wantError: "minio.storage.svc:9001 is not allowed"},
		{name: "default TLS port", opts: Options{Endpoints: []string{"s3.example:443"}}, endpoint: "s3.example"},
		{name: "default HTTP port", opts: Options{Endpoints: []string{"s3.example:80"}, AllowInsecure: true}, endpoint: "s3.example", insecure: true},
		{name: "default TLS port, not 80", opts: Options{Endpoints: []string{"s3.example:80"}}, endpoint: "s3.example",
			wantError: "s3.example is not allowed"},
		{name: "subdomain", opts: Options{Endpoints: []string{"*.amazonaws.com"}}, endpoint: "s3.eu-west-1.amazonaws.com"},
		{name: "subdomain and port", opts: Options{Endpoints: []string{"*.amazonaws.com:443"}}, endpoint: "s3.amazonaws.com:443"},
		{name: "not the domain itself", opts: Options{Endpoints: []string{"*.amazonaws.com"}}, endpoint: "amazonaws.com",
			wantError: "amazonaws.com is not allowed"},
		{name: "not a lookalike", opts: Options{Endpoints: []string{"*.amazonaws.com"}}, endpoint: "s3.evilamazonaws.com",
			wantError: "s3.evilamazonaws.com is not allowed"},
		{name: "any", opts: Options{Endpoints: []string{"*"}}, endpoint: "anything.example:1234"},
		{name: "IPv6", opts: Options{Endpoints: []string{"[::1]:9000"}}, endpoint: "[::1]:9000"},
		{name: "IPv6 without a port", opts: Options{Endpoints: []string{"::1"}}, endpoint: "[::1]:9000"},
		{name: "loopback, any port", opts: Options{Endpoints: []string{"127.0.0.1"}, AllowInsecure: true}, endpoint: "127.0.0.1:41234", insecure: true},
		{name: "plain HTTP refused", opts: Options{Endpoints: []string{"127.0.0.1"}}, endpoint: "127.0.0.1:9000", insecure: true,
			wantError: "spec.artifacts.s3.insecure: the operator does not reach 127.0.0.1:9000 over plain HTTP: a cluster admin allows it with --artifact-allow-insecure"},
		{name: "plain HTTP refused, even to any", opts: Options{Endpoints: []string{"*"}}, endpoint: "s3.example", insecure: true,
			wantError: "--artifact-allow-insecure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := experiment("c")
			exp.Spec.Artifacts.S3.Endpoint, exp.Spec.Artifacts.S3.Insecure = tc.endpoint, tc.insecure
			// No Secret: an allowed store fails to read it, a refused one
			// does not try.
			o := newOpener(t, fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build(), tc.opts)
			_, err := o.Open(context.Background(), exp)
			if err == nil {
				t.Fatal("Open = no error; want one, for the Secret if not for the store")
			}
			switch allowed := strings.Contains(err.Error(), "the credentials Secret ns/c"); {
			case tc.wantError == "" && !allowed:
				t.Errorf("Open(%s, insecure %v) with %+v = %v; want the store allowed", tc.endpoint, tc.insecure, tc.opts, err)
			case tc.wantError != "" && !strings.Contains(err.Error(), tc.wantError):
				t.Errorf("Open(%s, insecure %v) with %+v = %v; want an error containing %q", tc.endpoint, tc.insecure, tc.opts, err, tc.wantError)
			}
		})
	}
}

func TestNewSecretOpenerRejectsMalformedPatterns(t *testing.T) {
	for _, p := range []string{"", "https://s3.example", "s3.example/bucket", "s3.example:0", "s3.example:http", "s3.*.example", "*.", "a*.example", "user@s3.example"} {
		if _, err := NewSecretOpener(nil, Options{Endpoints: []string{p}}); err == nil || !strings.Contains(err.Error(), "--artifact-endpoints") {
			t.Errorf("NewSecretOpener with the pattern %q = %v; want an error naming --artifact-endpoints", p, err)
		}
	}
}

func TestSecretOpenerPassesLimits(t *testing.T) {
	reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).
		WithObjects(secret("c", map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"})).Build()
	want := artifacts.Limits{Timeout: 7 * time.Second, MaxObjects: 42}
	opts := allowAll
	opts.Limits = want
	o := newOpener(t, reader, opts)
	var got artifacts.Limits
	o.newS3 = func(cfg artifacts.S3Config, l artifacts.Limits) (artifacts.Store, error) {
		got = l
		return artifacts.NewS3Store(cfg, l)
	}
	if _, err := o.Open(context.Background(), experiment("c")); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("store opened with limits %+v; want %+v", got, want)
	}
}

// TestOpenS3 opens a ModelVersion's spec.store by the rules of Open: the
// allowed endpoints, plain HTTP only if allowed, the credentials of the
// Secret it names in the given namespace; its errors name spec.store.
func TestOpenS3(t *testing.T) {
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
	s3 := func(endpoint string, insecure bool) *crucible.S3ArtifactStore {
		return &crucible.S3ArtifactStore{Endpoint: endpoint, Bucket: "runs", Region: "r1", Insecure: insecure,
			CredentialsSecret: crucible.SecretReference{Name: "c"}}
	}
	cases := []struct {
		name      string
		namespace string
		s3        *crucible.S3ArtifactStore
		wantErr   string
	}{
		{name: "allowed, with its Secret", namespace: "ns", s3: s3("s3.example:9000", true)},
		{name: "the Secret is in another namespace", namespace: "ns2", s3: s3("s3.example:9000", true),
			wantErr: "the credentials Secret ns2/c (spec.store.credentialsSecret) does not exist"},
		{name: "an endpoint not allowed", namespace: "ns", s3: s3("evil.example:9000", true),
			wantErr: "spec.store.endpoint evil.example:9000 is not allowed: the operator's --artifact-endpoints allows only s3.example:9000"},
		{name: "no store", namespace: "ns", wantErr: "spec.store: no s3 store"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(secret("c", creds)).Build()
			o := newOpener(t, reader, allowAll)
			var got []artifacts.S3Config
			o.newS3 = func(cfg artifacts.S3Config, l artifacts.Limits) (artifacts.Store, error) {
				got = append(got, cfg)
				return artifacts.NewS3Store(cfg, l)
			}
			st, err := o.OpenS3(context.Background(), tc.namespace, tc.s3)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("OpenS3 error = %v; want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || st == nil {
				t.Fatalf("OpenS3 = %v, %v; want a store", st, err)
			}
			want := artifacts.S3Config{Endpoint: "s3.example:9000", Bucket: "runs", Region: "r1", Insecure: true, AccessKeyID: "AK", SecretAccessKey: "SK"}
			if len(got) != 1 || got[0] != want {
				t.Errorf("configs made %+v; want %+v", got, want)
			}
			// An Experiment of the same store and Secret shares the client.
			again, err := o.Open(context.Background(), experiment("c"))
			if err != nil || again != st || len(got) != 1 {
				t.Errorf("Open of the same store = %v, %v (%d clients made); want the same store", again, err, len(got))
			}
		})
	}

	t.Run("plain HTTP refused", func(t *testing.T) {
		o := newOpener(t, fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build(), Options{Endpoints: []string{"*"}})
		_, err := o.OpenS3(context.Background(), "ns", s3("s3.example:9000", true))
		if err == nil || !strings.Contains(err.Error(), "spec.store.insecure: the operator does not reach s3.example:9000 over plain HTTP") {
			t.Errorf("OpenS3 over plain HTTP = %v; want it refused, naming spec.store.insecure", err)
		}
	})

	t.Run("the none opener opens nothing", func(t *testing.T) {
		if st, err := None.OpenS3(context.Background(), "ns", s3("s3.example:9000", false)); st != nil || err == nil {
			t.Errorf("None.OpenS3 = %v, %v; want an error", st, err)
		}
	})
}
