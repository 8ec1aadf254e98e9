package builder

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/index"
)

// Scheme holds the kinds the operator reads and writes.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(crucible.AddToScheme(Scheme))
}

// NewClientBuilder returns a fake API server holding objs, as the
// controllers see it in production: the status subresource of Experiments
// and Trials, and the cache indexes of package index, registered through
// index.Setup so that a new index needs no change here. (kueue's
// pkg/util/testing NewClientBuilder.)
func NewClientBuilder(objs ...client.Object) *fake.ClientBuilder {
	b := fake.NewClientBuilder().
		WithScheme(Scheme).
		WithStatusSubresource(&crucible.Experiment{}, &crucible.Trial{}).
		WithObjects(objs...)
	// The fake builder's WithIndex cannot fail.
	utilruntime.Must(index.Setup(context.Background(), fakeIndexer{b}))
	return b
}

// fakeIndexer registers indexes with a fake client builder.
type fakeIndexer struct{ b *fake.ClientBuilder }

func (i fakeIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}
