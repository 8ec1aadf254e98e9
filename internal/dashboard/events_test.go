package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// streamTimeout bounds every read of the event stream.
const streamTimeout = 10 * time.Second

// nextEvent reads the stream up to its next data event.
func nextEvent(t *testing.T, r *bufio.Reader) liveStatus {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var s liveStatus
			if err := json.Unmarshal([]byte(data), &s); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			return s
		}
	}
}

func TestExperimentEvents(t *testing.T) {
	s, c := sweepFixture().serve(t)
	srv := httptest.NewServer(s)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/namespaces/ml/experiments/sweep/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)

	first := nextEvent(t, r)
	want := liveStatus{
		Phase:  "Running",
		Trials: crucible.TrialCounts{Total: 12, Created: 12, Active: 1, Succeeded: 10, Failed: 1},
		Done:   11,
		Best:   &liveBest{Name: "sweep-09", Objective: "0.100", Path: "/namespaces/ml/trials/sweep-09"},
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("first event (-want +got):\n%s", diff)
	}

	// Another Experiment's change is not streamed; this one's is.
	other := sweep()
	other.Name = "other"
	other.Status.Phase = crucible.ExperimentFailed
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	exp := &crucible.Experiment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: testNS, Name: "sweep"}, exp); err != nil {
		t.Fatal(err)
	}
	exp.Status.Phase = crucible.ExperimentSucceeded
	exp.Status.Trials.Active, exp.Status.Trials.Succeeded = 0, 11
	if err := c.Status().Update(ctx, exp); err != nil {
		t.Fatal(err)
	}
	next := nextEvent(t, r)
	want.Phase, want.Trials.Active, want.Trials.Succeeded, want.Done = "Succeeded", 0, 11, 12
	if diff := cmp.Diff(want, next); diff != "" {
		t.Errorf("event after the update (-want +got):\n%s", diff)
	}

	if err := c.Delete(ctx, exp); err != nil {
		t.Fatal(err)
	}
	if gone := nextEvent(t, r); !gone.Deleted {
		t.Errorf("event after the deletion: %+v, want deleted", gone)
	}
}
