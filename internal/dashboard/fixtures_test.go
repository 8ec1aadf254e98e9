package dashboard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

const testNS = "ml"

// now is the fake clock's time: an hour after the objects were made.
var now = builder.T0.Add(time.Hour)

// sweep is a 12-trial Experiment: lr (3 values) × depth (2..8 step 2).
func sweep() *crucible.Experiment {
	e := builder.MakeExperiment("sweep", testNS).UID("sweep-uid").
		Values("lr", "0.1", "0.01", "0.001").IntRange("depth", 2, 8, 2).
		PVCDataset("datasets", "cifar10", "/data").Obj()
	e.CreationTimestamp = metav1.NewTime(builder.T0)
	e.Status = crucible.ExperimentStatus{
		Phase:      crucible.ExperimentRunning,
		Trials:     crucible.TrialCounts{Total: 12, Created: 12, Active: 1, Succeeded: 10, Failed: 1},
		BestTrial:  &crucible.BestTrial{Name: "sweep-09", Index: 9, Seed: 1234, Objective: "0.100"},
		SpecDigest: "sha256:" + strings.Repeat("cd", 32),
	}
	return e
}

// sweepTrials are sweep's 12 trials: trial i has objective
// 0.1 + ((5i+3) mod 12)/100, so sweep-09 is the best (0.100) and sweep-02
// the next (0.110); sweep-03 failed and sweep-11 runs.
func sweepTrials(exp *crucible.Experiment) []*crucible.Trial {
	lrs := []string{"0.1", "0.01", "0.001"}
	var out []*crucible.Trial
	for i := range 12 {
		t := builder.MakeTrial(exp, fmt.Sprintf("sweep-%02d", i)).Index(int64(i)).Seed(1234).
			Param("lr", lrs[i/4]).Param("depth", fmt.Sprint(2+2*(i%4))).Obj()
		obj := fmt.Sprintf("%.3f", 0.1+float64((5*i+3)%12)/100)
		switch i {
		case 3:
			t.Status = crucible.TrialStatus{Phase: crucible.TrialFailed, Reason: crucible.ReasonExitCode, Message: "exit code 1"}
		case 11:
			t.Status = crucible.TrialStatus{Phase: crucible.TrialRunning}
		default:
			t.Status = crucible.TrialStatus{Phase: crucible.TrialSucceeded, Objective: obj,
				Metrics: map[string]string{"val_loss": obj, "accuracy": "0.9"}}
		}
		out = append(out, t)
	}
	return out
}

type fixture struct {
	objs  []client.Object
	kube  []runtime.Object
	funcs interceptor.Funcs
	opts  Options
}

// serve returns the dashboard over a fake API server holding f's objects,
// and that API server.
func (f fixture) serve(t testing.TB) (*Server, client.WithWatch) {
	t.Helper()
	c := builder.NewClientBuilder(f.objs...).WithInterceptorFuncs(f.funcs).Build()
	opts := f.opts
	opts.Clock = clocktesting.NewFakeClock(now)
	s, err := New(c, kubefake.NewClientset(f.kube...), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, c
}

// sweepFixture holds sweep and its trials.
func sweepFixture() fixture {
	exp := sweep()
	objs := []client.Object{exp}
	for _, t := range sweepTrials(exp) {
		objs = append(objs, t)
	}
	return fixture{objs: objs}
}

// get requests path from h and returns the status and body.
func get(t testing.TB, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

var trialRowRE = regexp.MustCompile(`<tr data-trial="([^"]+)"`)

// trialRows are the data-trial names of the leaderboard's rows, in order.
func trialRows(body string) []string {
	var names []string
	for _, m := range trialRowRE.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	return names
}

// forbidden is what the API server answers a request RBAC refuses.
func forbidden(group, resource, name string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: group, Resource: resource}, name,
		errors.New(`User "alice" cannot list resource "`+resource+`"`))
}
