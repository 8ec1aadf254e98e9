package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
)

// Timing of an event stream.
const (
	// heartbeatInterval keeps proxies from closing an idle stream (many
	// close after 30 to 60 s).
	heartbeatInterval = 15 * time.Second
	// rewatchDelay is the wait before watching again after a watch could
	// not be started.
	rewatchDelay = 2 * time.Second
	// clientRetry is the browser's wait before it reconnects, in ms.
	clientRetry = 5000
)

// liveStatus is one server-sent event of an Experiment's status.
type liveStatus struct {
	Phase        string               `json:"phase"`
	Trials       crucible.TrialCounts `json:"trials"`
	Done         int32                `json:"done"`
	Best         *liveBest            `json:"best,omitempty"`
	Reproduction string               `json:"reproduction,omitempty"`
	// Deleted says the Experiment is gone; the stream ends.
	Deleted bool `json:"deleted,omitempty"`
}

type liveBest struct {
	Name      string `json:"name"`
	Objective string `json:"objective"`
	Path      string `json:"path"`
}

func liveStatusOf(e *crucible.Experiment) liveStatus {
	s := liveStatus{
		Phase:  string(e.Status.Phase),
		Trials: e.Status.Trials,
		Done:   doneOf(e.Status.Trials),
	}
	if b := e.Status.BestTrial; b != nil {
		s.Best = &liveBest{Name: b.Name, Objective: b.Objective, Path: pathOf("namespaces", e.Namespace, "trials", b.Name)}
	}
	if r := e.Status.Reproduction; r != nil {
		s.Reproduction = string(r.Verdict)
	}
	return s
}

// experimentEvents streams the Experiment's status as server-sent events:
// one at once, then one on every change a watch reports, until the client
// goes or the Experiment is deleted.
func (s *Server) experimentEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ns, name := r.PathValue("ns"), r.PathValue("name")
	exp := &crucible.Experiment{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, exp); err != nil {
		s.jsonError(w, err, crucibleRead("get", "experiments", ns))
		return
	}
	// The watch starts where the read ended, so no change falls between.
	watcher, err := s.watchExperiment(ctx, ns, name, exp.ResourceVersion)
	if err != nil {
		s.jsonError(w, err, crucibleRead("watch", "experiments", ns))
		return
	}
	defer func() { watcher.Stop() }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// nginx and similar proxies buffer responses unless told not to.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	st := &stream{w: w, rc: rc}
	st.write("retry: " + strconv.Itoa(clientRetry) + "\n\n")
	if !st.send(liveStatusOf(exp)) {
		return
	}
	rv := exp.ResourceVersion

	beat := s.clock.NewTicker(heartbeatInterval)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C():
			if !st.write(": heartbeat\n\n") {
				return
			}
		case ev, open := <-watcher.ResultChan():
			if !open {
				// The API server ends watches after a while: watch again
				// from the last version seen, reading it afresh first if
				// that version is too old.
				watcher.Stop()
				if watcher, rv = s.rewatch(ctx, st, ns, name, rv); watcher == nil {
					return
				}
				continue
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				e, ok := ev.Object.(*crucible.Experiment)
				// The field selector is the API server's; check it, as a
				// fake does not.
				if !ok || e.Name != name || e.Namespace != ns {
					continue
				}
				rv = e.ResourceVersion
				if !st.send(liveStatusOf(e)) {
					return
				}
			case watch.Deleted:
				if e, ok := ev.Object.(*crucible.Experiment); ok && e.Name == name && e.Namespace == ns {
					st.send(liveStatus{Deleted: true})
					return
				}
			case watch.Error:
				// Mostly 410 Gone: rv is too old. Read afresh and watch on.
				if status, ok := ev.Object.(*metav1.Status); ok && status.Code == http.StatusGone {
					rv = ""
				}
				watcher.Stop()
				if watcher, rv = s.rewatch(ctx, st, ns, name, rv); watcher == nil {
					return
				}
			}
		}
	}
}

// rewatch starts a new watch from rv, or when rv is empty reads the
// Experiment, sends its status and watches from there. It retries until
// ctx ends, and returns nil then or when the Experiment is gone.
func (s *Server) rewatch(ctx context.Context, st *stream, ns, name, rv string) (watch.Interface, string) {
	for {
		if rv == "" {
			exp := &crucible.Experiment{}
			err := s.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, exp)
			switch {
			case apierrors.IsNotFound(err):
				st.send(liveStatus{Deleted: true})
				return nil, ""
			case err == nil:
				if !st.send(liveStatusOf(exp)) {
					return nil, ""
				}
				rv = exp.ResourceVersion
			}
		}
		if rv != "" {
			w, err := s.watchExperiment(ctx, ns, name, rv)
			if err == nil {
				return w, rv
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
			s.log.V(2).Info("watching an Experiment again failed", "namespace", ns, "name", name, "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, ""
		case <-s.clock.After(rewatchDelay):
		}
	}
}

func (s *Server) watchExperiment(ctx context.Context, ns, name, rv string) (watch.Interface, error) {
	return s.client.Watch(ctx, &crucible.ExperimentList{}, client.InNamespace(ns),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
}

// stream writes server-sent events, deduplicated: a status equal to the
// last one sent (a write that changed nothing shown) is not sent again.
type stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	last []byte
}

// send writes one status event; false when the client is gone.
func (st *stream) send(v liveStatus) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	if string(b) == string(st.last) {
		return true
	}
	st.last = b
	return st.write("data: " + string(b) + "\n\n")
}

// write writes s, a whole event or comment, and flushes it.
func (st *stream) write(s string) bool {
	if _, err := st.w.Write([]byte(s)); err != nil {
		return false
	}
	return st.rc.Flush() == nil
}
