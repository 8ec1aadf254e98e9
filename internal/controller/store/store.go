// Package store opens an Experiment's artifact store for the controllers:
// it reads the credentials Secret the Experiment names and hands back an
// artifacts.Store, reusing one client per distinct store and credentials.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
)

// Opener opens the s3 artifact store of an Experiment.
type Opener interface {
	Open(ctx context.Context, exp *crucible.Experiment) (artifacts.Store, error)
}

// ErrNoS3Store is returned for an Experiment without an s3 store.
var ErrNoS3Store = errors.New("the Experiment has no s3 artifact store")

// None is the Opener of an operator started without one: it opens no store.
var None Opener = none{}

type none struct{}

func (none) Open(context.Context, *crucible.Experiment) (artifacts.Store, error) {
	return nil, errors.New("the operator was started without an artifact store opener")
}

// maxClients bounds the clients kept; past it the cache starts over.
const maxClients = 256

// SecretOpener reads the credentials from the Secret an Experiment names,
// on every Open, so that rotated credentials are picked up at once.
type SecretOpener struct {
	reader client.Reader
	newS3  func(artifacts.S3Config) (artifacts.Store, error)

	mu      sync.Mutex
	clients map[artifacts.S3Config]artifacts.Store
}

// NewSecretOpener returns an Opener that reads Secrets with reader. reader
// should read from the API server: the operator does not cache Secrets.
func NewSecretOpener(reader client.Reader) *SecretOpener {
	return &SecretOpener{reader: reader, newS3: artifacts.NewS3Store, clients: map[artifacts.S3Config]artifacts.Store{}}
}

// Open returns the Experiment's s3 store.
func (o *SecretOpener) Open(ctx context.Context, exp *crucible.Experiment) (artifacts.Store, error) {
	if exp.Spec.Artifacts == nil || exp.Spec.Artifacts.S3 == nil {
		return nil, ErrNoS3Store
	}
	s3 := exp.Spec.Artifacts.S3
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: exp.Namespace, Name: s3.CredentialsSecret.Name}
	if err := o.reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the credentials Secret %s (spec.artifacts.s3.credentialsSecret) does not exist", key)
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
	st, err := o.newS3(cfg)
	if err != nil {
		return nil, fmt.Errorf("spec.artifacts.s3: %w", err)
	}
	if len(o.clients) >= maxClients {
		clear(o.clients)
	}
	o.clients[cfg] = st
	return st, nil
}
