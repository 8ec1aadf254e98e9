// Package steps runs the step metrics endpoint in the manager: the HTTPS
// server trainers POST {"step": N, "metrics": {...}} to while they run
// (internal/stepmetrics/endpoint), the lookups it needs from the manager's
// cache, and the Recorder that keeps each running trial's curve in memory
// and writes it to the Trial's status.stepMetrics at most once per
// interval, whatever the rate of reports: a bounded number of status writes
// per trial, independent of its steps.
//
// With an s3 artifact store, the Recorder also keeps the full series: see
// series.go.
//
// After each write the Recorder pokes the Trial reconciler (Events), which
// judges the trial by the Experiment's early-stopping rule on the recorded
// curves.
package steps

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/controller/store"
	"github.com/crucible-dev/crucible/internal/monitoring"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
)

// DefaultInterval is the least time between two writes of one trial's
// curve to its status.
const DefaultInterval = 10 * time.Second

// idleAfter is how long a trial's curve stays in memory after its last
// report; it is read back from the Trial's status if the trial reports
// again.
const idleAfter = 10 * time.Minute

// abandonAfter is how long after its last report a curve whose reports its
// store keeps refusing is forgotten with them: a trial that ended without
// a seal (its Job deleted), whose store is down for that long.
const abandonAfter = time.Hour

// Trials reads Trials and Pods from the manager's cache for the endpoint.
type Trials struct {
	Reader client.Reader
}

var _ endpoint.Trials = Trials{}

// Lookup implements endpoint.Trials.
func (t Trials) Lookup(ctx context.Context, namespace, name string) (endpoint.TrialInfo, error) {
	trial := &crucible.Trial{}
	if err := t.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, trial); err != nil {
		return endpoint.TrialInfo{}, err
	}
	ended := trial.Status.Phase == crucible.TrialSucceeded || trial.Status.Phase == crucible.TrialFailed ||
		trial.Status.Phase == crucible.TrialStopped
	// A Trial's Job is named after it.
	return endpoint.TrialInfo{UID: string(trial.UID), JobName: trial.Name, Ended: ended}, nil
}

// PodJob implements endpoint.Trials.
func (t Trials) PodJob(ctx context.Context, namespace, podName, podUID string) (string, error) {
	// The manager caches the Pods of its Jobs (their metadata and status).
	pod := &corev1.Pod{}
	if err := t.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: podName}, pod); err != nil {
		return "", err
	}
	if string(pod.UID) != podUID {
		return "", fmt.Errorf("pod %s/%s has UID %s, not the token's %s: %w", namespace, podName, pod.UID, podUID, endpoint.ErrNotFound)
	}
	if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == "Job" && ref.APIVersion == "batch/v1" {
		return ref.Name, nil
	}
	return "", nil
}

// Recorder is the endpoint's Sink: it keeps each running trial's curve and
// writes it to the Trial's status.
type Recorder struct {
	client   client.Client
	stores   store.Opener
	clock    clock.PassiveClock
	interval time.Duration
	// events receives a Trial after each write of its curve.
	events chan event.GenericEvent
	log    logr.Logger

	mu     sync.Mutex
	curves map[types.UID]*curve
	// storing bounds the chunks being written at once; stored waits for
	// the goroutines that write them.
	storing chan struct{}
	stored  sync.WaitGroup
}

// curve is one trial's curve in memory.
type curve struct {
	// mu serialises the reports of one trial and its writes.
	mu        sync.Mutex
	key       types.NamespacedName
	uid       types.UID
	history   *stepmetrics.History
	reports   int64
	dirty     bool
	lastWrite time.Time
	lastSeen  time.Time
	// closed is set when the trial ended (Seal): no report is taken after.
	closed bool
	// sealed is what Seal did, once it joined the chunks.
	sealed *Sealed

	// experiment is the trial's Experiment; store is set while its reports
	// are kept for an s3 store.
	experiment    types.NamespacedName
	experimentUID types.UID
	store         bool
	// pending are the reports accepted since the last chunk was written,
	// as lines of metrics.jsonl, the first of step pendingFrom.
	pending     []byte
	pendingFrom int64
	// queued is the bytes of reports given to the store since the curve
	// was loaded; unstored counts the reports not kept for it.
	queued, unstored int64
	lastStore        time.Time
	// storeMu is held while a chunk of the curve is written.
	storeMu sync.Mutex
	// storing is set while a chunk is being written by the flusher.
	storing bool
}

// NewRecorder returns a Recorder that writes through c at most every
// interval (DefaultInterval when zero), and keeps the full series in the
// s3 stores stores opens (none when nil).
func NewRecorder(c client.Client, stores store.Opener, clk clock.PassiveClock, interval time.Duration, log logr.Logger) *Recorder {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if stores == nil {
		stores = store.None
	}
	return &Recorder{client: c, stores: stores, clock: clk, interval: interval, log: log,
		events: make(chan event.GenericEvent, 1024), curves: map[types.UID]*curve{}, storing: make(chan struct{}, maxStoring)}
}

// Events is the channel of Trials whose curve was written, for the Trial
// reconciler to watch.
func (r *Recorder) Events() <-chan event.GenericEvent { return r.events }

// Record implements endpoint.Sink.
func (r *Recorder) Record(ctx context.Context, namespace, trial, uid string, report stepmetrics.Report) error {
	c, err := r.curve(ctx, types.NamespacedName{Namespace: namespace, Name: trial}, types.UID(uid))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("trial %s: %w", c.key, endpoint.ErrTrialEnded)
	}
	changed, err := c.history.Add(report)
	if err != nil {
		return err
	}
	now := r.clock.Now()
	c.lastSeen = now
	if !changed {
		return nil
	}
	c.reports++
	c.dirty = true
	c.appendReport(report)
	if now.Sub(c.lastWrite) >= r.interval {
		return r.write(ctx, c, now)
	}
	return nil
}

// curve returns the trial's curve, read back from its status the first time.
func (r *Recorder) curve(ctx context.Context, key types.NamespacedName, uid types.UID) (*curve, error) {
	r.mu.Lock()
	c, ok := r.curves[uid]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	trial := &crucible.Trial{}
	if err := r.client.Get(ctx, key, trial); err != nil {
		return nil, err
	}
	if trial.UID != uid {
		return nil, fmt.Errorf("trial %s is not the one of UID %s: %w", key, uid, endpoint.ErrNotFound)
	}
	c = &curve{key: key, uid: uid, history: stepmetrics.NewHistory(stepmetrics.HistoryLimits{})}
	if owner, ownerUID, ok := curveOwner(trial); ok {
		exp := &crucible.Experiment{}
		if err := r.client.Get(ctx, owner, exp); err == nil && exp.UID == ownerUID && hasS3(exp) {
			c.experiment, c.experimentUID, c.store = owner, ownerUID, true
		} else if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	if sm := trial.Status.StepMetrics; sm != nil {
		if err := c.history.Load(fromStatus(sm.Series)); err != nil {
			r.log.Error(err, "the trial's recorded step metrics cannot be read back; starting a new curve", "trial", key)
			c.history = stepmetrics.NewHistory(stepmetrics.HistoryLimits{})
		} else {
			c.reports = sm.Reports
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing, ok := r.curves[uid]; ok {
		return existing, nil
	}
	r.curves[uid] = c
	return c, nil
}

// write patches the trial's status.stepMetrics with the curve; c.mu held.
func (r *Recorder) write(ctx context.Context, c *curve, now time.Time) error {
	sm := &crucible.StepMetrics{Reports: c.reports, Series: toStatus(c.history.Series())}
	if last, ok := c.history.LastStep(); ok {
		sm.LastStep = last
	}
	trial := &crucible.Trial{}
	trial.Namespace, trial.Name = c.key.Namespace, c.key.Name
	patch := client.RawPatch(types.MergePatchType, mustJSON(map[string]any{"status": map[string]any{"stepMetrics": sm}}))
	if err := r.client.Status().Patch(ctx, trial, patch); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(c)
			return fmt.Errorf("trial %s is gone: %w", c.key, endpoint.ErrTrialEnded)
		}
		return fmt.Errorf("writing the step metrics of trial %s: %w", c.key, err)
	}
	monitoring.StepMetricsWrites.Inc()
	c.dirty, c.lastWrite = false, now
	select {
	case r.events <- event.GenericEvent{Object: trial}:
	default:
		// The reconciler is behind; the next write pokes it again.
	}
	return nil
}

func (r *Recorder) forget(c *curve) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, x := range r.curves {
		if x == c {
			delete(r.curves, uid)
		}
	}
}

// flush writes the curves whose interval has passed since their last
// write (all that are not written yet when all is set), starts writing the
// chunks of their pending reports (and, when all is set, waits for them),
// and forgets those idle for long.
func (r *Recorder) flush(ctx context.Context, all bool) {
	if all {
		// Chunks being written on a context that ended fail at once, and
		// are written again below.
		r.stored.Wait()
	}
	r.mu.Lock()
	curves := make([]*curve, 0, len(r.curves))
	for _, c := range r.curves {
		curves = append(curves, c)
	}
	r.mu.Unlock()
	now := r.clock.Now()
	for _, c := range curves {
		c.mu.Lock()
		if c.dirty && (all || now.Sub(c.lastWrite) >= r.interval) {
			if err := r.write(ctx, c, now); err != nil && !errors.Is(err, endpoint.ErrTrialEnded) {
				r.log.Error(err, "writing step metrics; will retry")
			}
		}
		toStore := len(c.pending) > 0 && !c.storing && (all || now.Sub(c.lastStore) >= r.interval)
		idle := !c.dirty && !c.storing && (len(c.pending) == 0 && now.Sub(c.lastSeen) >= idleAfter || now.Sub(c.lastSeen) >= abandonAfter)
		if idle && len(c.pending) > 0 {
			r.log.Info("forgetting step metrics its store kept refusing for an hour", "trial", c.key,
				"reports", bytes.Count(c.pending, []byte{'\n'}))
		}
		c.mu.Unlock()
		if toStore {
			r.startStoring(ctx, c)
		}
		if idle {
			r.forget(c)
		}
	}
	if all {
		r.stored.Wait()
	}
}

// startStoring writes the curve's pending chunk in a goroutine of its own,
// which waits its turn among the maxStoring written at once: a slow store
// holds one goroutine per curve at most, never the flusher.
func (r *Recorder) startStoring(ctx context.Context, c *curve) {
	c.mu.Lock()
	c.storing = true
	c.mu.Unlock()
	r.stored.Go(func() {
		select {
		case r.storing <- struct{}{}:
			defer func() { <-r.storing }()
			if err := r.storeChunk(ctx, c); err != nil {
				r.log.Error(err, "storing step metrics; will retry", "trial", c.key)
			}
		case <-ctx.Done():
		}
		c.mu.Lock()
		c.storing = false
		c.mu.Unlock()
	})
}

// Start flushes every second until ctx ends, then once more: a
// manager.Runnable.
func (r *Recorder) Start(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Best effort, on a context of its own: the manager's is done.
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.flush(flushCtx, true)
			cancel()
			return nil
		case <-t.C:
			r.flush(ctx, false)
		}
	}
}

// Server serves the endpoint over HTTPS: a manager.Runnable.
type Server struct {
	// Addr is the address to listen on.
	Addr    string
	Handler http.Handler
	// TLS is the server's certificate.
	TLS *tls.Config
	Log logr.Logger
}

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := tls.Listen("tcp", s.Addr, s.TLS)
	if err != nil {
		return fmt.Errorf("listening for step metrics on %s: %w", s.Addr, err)
	}
	s.Log.Info("serving step metrics", "address", ln.Addr().String())
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	case err := <-errc:
		return err
	}
}

// fromStatus is the History's form of recorded series.
func fromStatus(in []crucible.StepSeries) []stepmetrics.Series {
	out := make([]stepmetrics.Series, len(in))
	for i, s := range in {
		out[i] = stepmetrics.Series{Metric: s.Metric, Reports: s.Reports, Points: make([]stepmetrics.Point, len(s.Points))}
		for j, p := range s.Points {
			out[i].Points[j] = stepmetrics.Point{Step: p.Step, Value: p.Value}
		}
	}
	return out
}

// toStatus is the Trial status's form of the History's series.
func toStatus(in []stepmetrics.Series) []crucible.StepSeries {
	out := make([]crucible.StepSeries, len(in))
	for i, s := range in {
		out[i] = crucible.StepSeries{Metric: s.Metric, Reports: s.Reports, Points: make([]crucible.StepPoint, len(s.Points))}
		for j, p := range s.Points {
			out[i].Points[j] = crucible.StepPoint{Step: p.Step, Value: p.Value}
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the types here always marshal
	}
	return b
}
