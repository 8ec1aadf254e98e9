package trial

import (
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// The objects of these tests come from test/builder; these are the few
// shorthands and comparisons the package's tests share.

const testNamespace = "ml"

// t0 is when the tests' Jobs start.
var t0 = builder.T0

// ignoreTransitionTime compares conditions without their LastTransitionTime.
var ignoreTransitionTime = cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime")

// makeExperiment returns a minimal Experiment of testNamespace as the API
// server would hold it: a UID and generation 1.
func makeExperiment(name string) *builder.ExperimentWrapper {
	w := builder.MakeExperiment(name, testNamespace).UID(types.UID(name + "-uid"))
	w.Generation = 1
	return w
}

// sweepExperiment is the Experiment most tests start from.
func sweepExperiment() *builder.ExperimentWrapper { return builder.MakeSweep(testNamespace) }

var (
	sweepTrial = builder.SweepTrial
	makeTrial  = builder.MakeTrial
	makeJob    = builder.MakeJob
	makePod    = builder.MakePod
)

// pods dereferences pods into the slice setStatusFromJob takes.
func pods(ps ...*corev1.Pod) []corev1.Pod {
	out := make([]corev1.Pod, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

// diffStatus compares Trial statuses, conditions without LastTransitionTime.
func diffStatus(want, got crucible.TrialStatus, opts ...cmp.Option) string {
	return cmp.Diff(want, got, append([]cmp.Option{ignoreTransitionTime}, opts...)...)
}
