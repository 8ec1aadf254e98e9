// Package store opens the artifact stores Experiments and ModelVersions
// name for the controllers: it checks that the cluster admin allows the
// store's endpoint, reads the credentials Secret the object names and
// hands back an artifacts.Store, reusing one client per distinct store and
// credentials.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

// The operator's flags for Options, named in the errors of Open.
const (
	FlagEndpoints     = "artifact-endpoints"
	FlagAllowInsecure = "artifact-allow-insecure"
)

// Opener opens s3 artifact stores: an Experiment's, and the one a
// ModelVersion names.
type Opener interface {
	// Open opens the Experiment's spec.artifacts.s3; its errors name
	// those fields.
	Open(ctx context.Context, exp *crucible.Experiment) (artifacts.Store, error)
	// OpenS3 opens s3 with the credentials Secret it names in namespace,
	// by the same rules as Open; its errors name the fields as a
	// ModelVersion's spec.store.
	OpenS3(ctx context.Context, namespace string, s3 *crucible.S3ArtifactStore) (artifacts.Store, error)
}

// ErrNoS3Store is returned for an Experiment without an s3 store.
var ErrNoS3Store = errors.New("the Experiment has no s3 artifact store")

// None is the Opener of an operator started without one: it opens no store.
var None Opener = none{}

type none struct{}

var errNoOpener = errors.New("the operator was started without an artifact store opener")

func (none) Open(context.Context, *crucible.Experiment) (artifacts.Store, error) {
	return nil, errNoOpener
}

func (none) OpenS3(context.Context, string, *crucible.S3ArtifactStore) (artifacts.Store, error) {
	return nil, errNoOpener
}

// Options are the cluster admin's: which stores an Experiment may name, and
// what one call to a store may cost.
type Options struct {
	// Endpoints are the spec.artifacts.s3.endpoint values allowed, as
	// patterns: "host" (any port), "host:port", "*.domain" or
	// "*.domain:port" (any host whose name ends in ".domain"), and "*" (any
	// host). Hosts compare without case. An endpoint without a port has
	// port 443, or 80 with insecure. An empty list allows no endpoint: an
	// admin names the stores the operator may send credentials to.
	Endpoints []string
	// AllowInsecure allows spec.artifacts.s3.insecure (plain HTTP), which
	// sends requests, signed but readable, over the network.
	AllowInsecure bool
	// Limits bound each call to a store.
	Limits artifacts.Limits
}

// maxClients bounds the clients kept; past it the cache starts over.
const maxClients = 256

// SecretOpener reads the credentials from the Secret an Experiment names,
// on every Open, so that rotated credentials are picked up at once.
type SecretOpener struct {
	reader        client.Reader
	endpoints     []pattern
	allowInsecure bool
	limits        artifacts.Limits
	newS3         func(artifacts.S3Config, artifacts.Limits) (artifacts.Store, error)

	mu      sync.Mutex
	clients map[artifacts.S3Config]artifacts.Store
}

// NewSecretOpener returns an Opener of the stores o allows, that reads
// Secrets with reader. reader should read from the API server: the
// operator does not cache Secrets. It fails on a malformed endpoint pattern.
func NewSecretOpener(reader client.Reader, o Options) (*SecretOpener, error) {
	endpoints := make([]pattern, 0, len(o.Endpoints))
	for _, e := range o.Endpoints {
		p, err := parsePattern(e)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", FlagEndpoints, err)
		}
		endpoints = append(endpoints, p)
	}
	return &SecretOpener{reader: reader, endpoints: endpoints, allowInsecure: o.AllowInsecure, limits: o.Limits,
		newS3: artifacts.NewS3Store, clients: map[artifacts.S3Config]artifacts.Store{}}, nil
}

// Open returns the Experiment's s3 store, if the operator allows it.
func (o *SecretOpener) Open(ctx context.Context, exp *crucible.Experiment) (artifacts.Store, error) {
	if exp.Spec.Artifacts == nil || exp.Spec.Artifacts.S3 == nil {
		return nil, ErrNoS3Store
	}
	return o.open(ctx, exp.Namespace, exp.Spec.Artifacts.S3, "spec.artifacts.s3")
}

// OpenS3 returns the store s3 describes, with the credentials of its
// Secret in namespace, if the operator allows it: a ModelVersion's
// spec.store, which its errors name.
func (o *SecretOpener) OpenS3(ctx context.Context, namespace string, s3 *crucible.S3ArtifactStore) (artifacts.Store, error) {
	if s3 == nil {
		return nil, errors.New("spec.store: no s3 store")
	}
	return o.open(ctx, namespace, s3, "spec.store")
}

// open is Open and OpenS3: field is where s3 is in its object, for errors.
func (o *SecretOpener) open(ctx context.Context, namespace string, s3 *crucible.S3ArtifactStore, field string) (artifacts.Store, error) {
	if err := o.allow(s3, field); err != nil {
		return nil, err
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: namespace, Name: s3.CredentialsSecret.Name}
	if err := o.reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the credentials Secret %s (%s.credentialsSecret) does not exist", key, field)
		}
		return nil, fmt.Errorf("reading the credentials Secret %s: %w", key, err)
	}
	cfg := artifacts.S3Config{
		Endpoint:        s3.Endpoint,
		Bucket:          s3.Bucket,
		Region:          s3.Region,
		Insecure:        s3.Insecure,
		AccessKeyID:     string(secret.Data[crucible.SecretKeyAccessKeyID]),
		SecretAccessKey: string(secret.Data[crucible.SecretKeySecretAccessKey]),
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, fmt.Errorf("the credentials Secret %s must have the keys %s and %s",
			key, crucible.SecretKeyAccessKeyID, crucible.SecretKeySecretAccessKey)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if st, ok := o.clients[cfg]; ok {
		return st, nil
	}
	st, err := o.newS3(cfg, o.limits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(o.clients) >= maxClients {
		clear(o.clients)
	}
	o.clients[cfg] = st
	return st, nil
}

// allow says why the operator does not open s3, if it does not.
func (o *SecretOpener) allow(s3 *crucible.S3ArtifactStore, field string) error {
	if s3.Insecure && !o.allowInsecure {
		return fmt.Errorf("%s.insecure: the operator does not reach %s over plain HTTP: a cluster admin allows it with --%s",
			field, s3.Endpoint, FlagAllowInsecure)
	}
	host, port := splitEndpoint(s3.Endpoint, s3.Insecure)
	for _, p := range o.endpoints {
		if p.matches(host, port) {
			return nil
		}
	}
	if len(o.endpoints) == 0 {
		return fmt.Errorf("%s.endpoint %s is not allowed: the operator allows no endpoint until a cluster admin lists them with --%s",
			field, s3.Endpoint, FlagEndpoints)
	}
	return fmt.Errorf("%s.endpoint %s is not allowed: the operator's --%s allows only %s",
		field, s3.Endpoint, FlagEndpoints, strings.Join(o.patterns(), ","))
}

func (o *SecretOpener) patterns() []string {
	out := make([]string, len(o.endpoints))
	for i, p := range o.endpoints {
		out[i] = p.String()
	}
	return out
}

// pattern is one of Options.Endpoints.
type pattern struct {
	host string // lowercase; "*" or "*.domain" for many
	port string // "" for any
}

func (p pattern) matches(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	switch {
	case p.host == "*":
		return true
	case strings.HasPrefix(p.host, "*."):
		return strings.HasSuffix(host, p.host[1:])
	default:
		return host == p.host
	}
}

func (p pattern) String() string {
	if p.port == "" {
		return p.host
	}
	return net.JoinHostPort(p.host, p.port)
}

func parsePattern(s string) (pattern, error) {
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return pattern{}, fmt.Errorf("endpoint pattern %q: want host[:port], *.domain[:port] or *", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil { // no port
		host, port = s, ""
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return pattern{}, fmt.Errorf("endpoint pattern %q: port %q is not a number from 1 to 65535", s, port)
	}
	if host == "*." {
		host = "" // not "*" once normalized
	}
	host = normalize(host)
	if host == "" || host != "*" && strings.Contains(strings.TrimPrefix(host, "*."), "*") {
		return pattern{}, fmt.Errorf("endpoint pattern %q: a wildcard stands for the whole host (*) or its first labels (*.domain)", s)
	}
	return pattern{host: host, port: port}, nil
}

// splitEndpoint is the host and port of a host[:port] endpoint; the port
// is 443, or 80 with insecure, when it has none.
func splitEndpoint(endpoint string, insecure bool) (host, port string) {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		host, port = endpoint, "443"
		if insecure {
			port = "80"
		}
	}
	return normalize(host), port
}

// normalize is host in lowercase, without IPv6 brackets or a final dot.
func normalize(host string) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}
