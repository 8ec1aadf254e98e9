package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/metrics"
	"github.com/crucible-dev/crucible/internal/monitoring"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
)

// The full series of a trial's step metrics goes to its Experiment's s3
// store, when it has one, without a write per report and without holding
// the series in memory: the reports accepted since the last write are kept
// as JSON Lines (pending), and written at most once per interval as a chunk
// beside the trial's prefix (artifacts.StepChunksPrefix), keyed by the step
// of its first report, so that chunks list in the order of their steps.
// When the trial ends, Seal joins the chunks into metrics.jsonl under the
// trial's prefix (artifacts.StepMetricsKey), before the trial's artifacts
// are listed for its manifest, and deletes them.

const (
	// MaxSeriesBytes bounds a trial's metrics.jsonl: 64 MiB is some 600,000
	// reports of a few metrics, two days of a report a second (the endpoint
	// allows ten). Past it the reports still make the Trial's curve but are
	// not stored, and status.stepMetrics.storedReports says how many are.
	MaxSeriesBytes = 64 << 20

	// maxPendingBytes bounds the reports one trial keeps in memory for its
	// next chunk while the store refuses them; past it they are not stored.
	// Ten seconds at the endpoint's limits (ten reports a second, a burst
	// of twenty, 16 KiB each) is at most 1.9 MiB.
	maxPendingBytes = 4 << 20

	// maxStoring is how many chunks are written at once, so that a slow
	// store holds a few goroutines, never the flusher.
	maxStoring = 8

	seriesContentType = "application/jsonl"
)

// Sealed is what Seal did with a trial's series.
type Sealed struct {
	// URI is where the series was written; empty when nothing was.
	URI string
	// Stored is how many reports it holds; nil when it is not known (the
	// file was written by a manager that stopped before recording it).
	Stored *int64
}

// Record records the outcome of Seal on the trial's status.
func (s Sealed) Record(trial *crucible.Trial) {
	if s.URI == "" && s.Stored == nil {
		return
	}
	if trial.Status.StepMetrics == nil {
		trial.Status.StepMetrics = &crucible.StepMetrics{}
	}
	trial.Status.StepMetrics.URI, trial.Status.StepMetrics.StoredReports = s.URI, s.Stored
}

// NeedsSeal reports whether an ended trial's series may still be waiting
// in chunks: it has step metrics and Seal has recorded nothing of them.
func NeedsSeal(trial *crucible.Trial) bool {
	sm := trial.Status.StepMetrics
	return sm != nil && sm.URI == "" && sm.StoredReports == nil
}

// hasS3 reports whether exp stores artifacts in an s3 store.
func hasS3(exp *crucible.Experiment) bool {
	return exp.Spec.Artifacts != nil && exp.Spec.Artifacts.S3 != nil
}

// appendReport adds the line of r to the curve's pending chunk; c.mu held.
func (c *curve) appendReport(r stepmetrics.Report) {
	if !c.store {
		return
	}
	line := seriesLine(r)
	if len(c.pending)+len(line) > maxPendingBytes || c.queued+int64(len(line)) > MaxSeriesBytes {
		c.unstored++
		return
	}
	if len(c.pending) == 0 {
		c.pendingFrom = r.Step
	}
	c.pending = append(c.pending, line...)
	c.queued += int64(len(line))
}

// seriesLine is r as a line of metrics.jsonl:
// {"step":N,"metrics":{...}}, metrics in the order of their names, values
// spelled as package metrics spells them. Nothing of when it came: the file
// is a pure function of the reports, so that a trainer that reports the
// same steps writes the same artifacts (a reproduction compares their
// manifest digests).
func seriesLine(r stepmetrics.Report) []byte {
	names := make([]string, 0, len(r.Metrics))
	for name := range r.Metrics {
		names = append(names, name)
	}
	slices.Sort(names)
	b := append([]byte(`{"step":`), strconv.FormatInt(r.Step, 10)...)
	b = append(b, `,"metrics":{`...)
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = append(b, metrics.Format(r.Metrics[name])...)
	}
	return append(b, "}}\n"...)
}

func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return append(b, q...)
}

// storeChunk writes the curve's pending reports as one chunk. The curve is
// not locked while the store answers: reports accepted meanwhile wait for
// the next chunk, and a chunk the store refused is written again with them,
// under the same key.
func (r *Recorder) storeChunk(ctx context.Context, c *curve) error {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	c.mu.Lock()
	data, from := c.pending, c.pendingFrom
	c.pending = nil
	c.mu.Unlock()
	if len(data) == 0 {
		return nil
	}
	err := r.putChunk(ctx, c, from, data)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastStore = r.clock.Now()
	switch {
	case errors.Is(err, errNoStore):
		c.store, c.unstored = false, c.unstored+int64(bytes.Count(data, []byte{'\n'}))+int64(bytes.Count(c.pending, []byte{'\n'}))
		c.pending = nil
		return nil
	case err != nil:
		if len(data)+len(c.pending) > maxPendingBytes {
			// Keep the older reports: the chunk's key is its first step.
			c.unstored += int64(bytes.Count(c.pending, []byte{'\n'}))
			c.pending = nil
		}
		c.pending, c.pendingFrom = append(data, c.pending...), from
		return err
	}
	return nil
}

// errNoStore is putChunk's error when the trial's Experiment is gone or has
// no s3 store: its reports are not kept for a store.
var errNoStore = errors.New("no s3 store")

// putChunk writes data, the reports from step from on, as a chunk of the
// curve's trial.
func (r *Recorder) putChunk(ctx context.Context, c *curve, from int64, data []byte) error {
	exp := &crucible.Experiment{}
	if err := r.client.Get(ctx, c.experiment, exp); err != nil {
		if apierrors.IsNotFound(err) {
			return errNoStore
		}
		return err
	}
	if exp.UID != c.experimentUID || !hasS3(exp) {
		return errNoStore
	}
	st, err := r.stores.Open(ctx, exp)
	if err != nil {
		return err
	}
	key := artifacts.StepChunksPrefix(exp.Spec.Artifacts.S3.Prefix, exp, c.trial()) + chunkName(from)
	if err := st.Put(ctx, key, data, seriesContentType); err != nil {
		return err
	}
	monitoring.StepMetricsChunks.Inc()
	return nil
}

// chunkName names a chunk by its first step, zero-padded to the digits of
// stepmetrics.MaxStep so that names sort as steps do.
func chunkName(from int64) string {
	return fmt.Sprintf("%013d.jsonl", from)
}

// trial is the Trial the curve is of, as far as keys need it.
func (c *curve) trial() *crucible.Trial {
	t := &crucible.Trial{}
	t.Namespace, t.Name, t.UID = c.key.Namespace, c.key.Name, c.uid
	return t
}

// Seal ends the series of trial, a trial of exp that ended: later reports
// are refused, the reports still in memory are written, and, with an s3
// store, the chunks are joined into metrics.jsonl under the trial's prefix
// and deleted. Call it before the trial's artifacts are listed for their
// manifest: the file is one of them. It is idempotent, and an error leaves
// what was stored to the next call.
func (r *Recorder) Seal(ctx context.Context, exp *crucible.Experiment, trial *crucible.Trial) (Sealed, error) {
	r.mu.Lock()
	c := r.curves[trial.UID]
	r.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		if c.sealed != nil {
			// Sealed by an earlier pass whose trial did not end then (its
			// Pod's last state was not seen yet).
			defer c.mu.Unlock()
			return *c.sealed, nil
		}
		c.closed = true
		if c.dirty {
			if err := r.write(ctx, c, r.clock.Now()); err != nil {
				r.log.Error(err, "writing the last step metrics of an ended trial", "trial", c.key)
			}
		}
		if c.unstored > 0 {
			r.log.Info("some step metrics of the trial were not kept for its store", "trial", c.key, "reports", c.unstored)
		}
		c.mu.Unlock()
		if err := r.storeChunk(ctx, c); err != nil {
			return Sealed{}, fmt.Errorf("storing the last step metrics: %w", err)
		}
	}
	if !hasS3(exp) || (c == nil && trial.Status.StepMetrics == nil) {
		return Sealed{}, nil
	}
	st, err := r.stores.Open(ctx, exp)
	if err != nil {
		return Sealed{}, fmt.Errorf("storing the step metrics: %w", err)
	}
	a := exp.Spec.Artifacts.S3
	chunks, dst := artifacts.StepChunksPrefix(a.Prefix, exp, trial), artifacts.StepMetricsKey(a.Prefix, exp, trial)
	lines, _, err := st.Concat(ctx, chunks, dst, seriesContentType, MaxSeriesBytes, newSeriesFilter(MaxSeriesBytes).keep)
	switch {
	case errors.Is(err, artifacts.ErrNoObjects):
		// Nothing was stored, or an earlier call joined and deleted the
		// chunks but its trial's status was not written.
		ok, err := st.Exists(ctx, dst)
		switch {
		case err != nil:
			return Sealed{}, fmt.Errorf("storing the step metrics: %w", err)
		case ok:
			return Sealed{URI: artifacts.S3URI(a.Bucket, dst)}, nil
		}
		return Sealed{Stored: ptr.To[int64](0)}, nil
	case err != nil:
		return Sealed{}, fmt.Errorf("storing the step metrics: %w", err)
	}
	if _, _, err := st.DeletePrefix(ctx, chunks); err != nil {
		return Sealed{}, fmt.Errorf("storing the step metrics: %w", err)
	}
	sealed := Sealed{URI: artifacts.S3URI(a.Bucket, dst), Stored: ptr.To(lines)}
	if c != nil {
		c.mu.Lock()
		c.sealed = &sealed
		c.mu.Unlock()
	}
	return sealed, nil
}

// seriesFilter keeps the lines of chunks whose steps increase, and no more
// of them than fit in max bytes: a report stored twice (a chunk written
// again after its store answered too late, or a trainer that reported a
// step again after the manager restarted) is kept once, the first time.
type seriesFilter struct {
	last       int64
	n, max     int64
	anyWritten bool
}

func newSeriesFilter(maxBytes int64) *seriesFilter { return &seriesFilter{max: maxBytes} }

func (f *seriesFilter) keep(line []byte) bool {
	var head struct {
		Step *int64 `json:"step"`
	}
	if err := json.Unmarshal(line, &head); err != nil || head.Step == nil {
		return false // not a line of ours
	}
	size := int64(len(line))
	if line[len(line)-1] != '\n' {
		size++
	}
	if (f.anyWritten && *head.Step <= f.last) || f.n+size > f.max {
		return false
	}
	f.last, f.anyWritten, f.n = *head.Step, true, f.n+size
	return true
}

// curveOwner is the Experiment of the trial the curve is of.
func curveOwner(trial *crucible.Trial) (types.NamespacedName, types.UID, bool) {
	for _, ref := range trial.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "Experiment" && ref.APIVersion == crucible.GroupVersion.String() {
			return types.NamespacedName{Namespace: trial.Namespace, Name: ref.Name}, ref.UID, true
		}
	}
	return types.NamespacedName{}, "", false
}
