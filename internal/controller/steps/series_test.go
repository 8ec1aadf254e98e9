package steps

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/internal/artifacts"
	"github.com/crucible-dev/crucible/internal/stepmetrics"
	"github.com/crucible-dev/crucible/internal/stepmetrics/endpoint"
	"github.com/crucible-dev/crucible/test/builder"
)

// memStore is an in-memory artifacts.Store of what the Recorder uses: Put,
// Concat, Exists and DeletePrefix. The S3 store's behaviour is tested
// against a real S3 server in test/integration/artifactstore.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
	// putErr, when set, fails every Put.
	putErr error
}

func newMemStore() *memStore { return &memStore{objects: map[string][]byte{}} }

func (s *memStore) Open(context.Context, *crucible.Experiment) (artifacts.Store, error) {
	return s, nil
}

func (s *memStore) OpenS3(context.Context, string, *crucible.S3ArtifactStore) (artifacts.Store, error) {
	return nil, errors.New("not used by the Recorder")
}

func (s *memStore) Manifest(context.Context, string) (artifacts.Manifest, error) {
	return artifacts.Manifest{}, errors.New("not used by the Recorder")
}

func (s *memStore) Copy(context.Context, string, string) (int64, int64, error) {
	return 0, 0, errors.New("not used by the Recorder")
}

func (s *memStore) Put(_ context.Context, key string, data []byte, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.puts++
	s.objects[key] = slices.Clone(data)
	return nil
}

func (s *memStore) keysUnder(prefix string) []string {
	var keys []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (s *memStore) Concat(_ context.Context, src, dst, _ string, maxBytes int64, keep func([]byte) bool) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.keysUnder(src)
	if len(keys) == 0 {
		return 0, 0, artifacts.ErrNoObjects
	}
	var out bytes.Buffer
	var lines int64
	for _, k := range keys {
		sc := bufio.NewScanner(bytes.NewReader(s.objects[k]))
		for sc.Scan() {
			line := append(sc.Bytes(), '\n')
			if keep == nil || keep(line) {
				if int64(out.Len()+len(line)) > maxBytes {
					return 0, 0, artifacts.ErrTooLarge
				}
				out.Write(line)
				lines++
			}
		}
	}
	s.objects[dst] = out.Bytes()
	return lines, int64(out.Len()), nil
}

func (s *memStore) Exists(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objects[key]
	return ok, nil
}

func (s *memStore) DeletePrefix(_ context.Context, prefix string) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n, b int64
	for _, k := range s.keysUnder(prefix) {
		n, b = n+1, b+int64(len(s.objects[k]))
		delete(s.objects, k)
	}
	return n, b, nil
}

func (s *memStore) setPutErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putErr = err
}

func (s *memStore) putCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// seriesFixture is an Experiment with an s3 store, one of its Trials, and
// a Recorder over a fake client, clock and store.
type seriesFixture struct {
	exp   *crucible.Experiment
	trial *crucible.Trial
	c     client.Client
	clk   *clocktesting.FakeClock
	store *memStore
}

func newSeriesFixture(t *testing.T, s3 bool) *seriesFixture {
	t.Helper()
	exp := builder.MakeExperiment("resnet", "ml").Obj()
	exp.UID = "exp-uid"
	if s3 {
		exp.Spec.Artifacts = &crucible.ArtifactsSpec{S3: &crucible.S3ArtifactStore{Endpoint: "s3.example", Bucket: "runs",
			Prefix: "team", CredentialsSecret: crucible.SecretReference{Name: "creds"}}}
	}
	trial := builder.MakeTrial(exp, "resnet-0123456789ab").Obj()
	return &seriesFixture{exp: exp, trial: trial, c: builder.NewClientBuilder(exp, trial).Build(),
		clk: clocktesting.NewFakeClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)), store: newMemStore()}
}

func (f *seriesFixture) recorder() *Recorder {
	return NewRecorder(f.c, f.store, f.clk, 10*time.Second, logr.Discard())
}

func (f *seriesFixture) report(t *testing.T, r *Recorder, step int64) error {
	t.Helper()
	return r.Record(context.Background(), f.trial.Namespace, f.trial.Name, string(f.trial.UID),
		stepmetrics.Report{Step: step, Metrics: map[string]float64{"val_loss": 1 / float64(step+1), "acc": float64(step) / 1000}})
}

func (f *seriesFixture) chunks() []string {
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	return f.store.keysUnder(artifacts.StepChunksPrefix("team", f.exp, f.trial))
}

// series reads metrics.jsonl back: the steps of its lines, each checked to
// be a whole line of the documented shape.
func (f *seriesFixture) series(t *testing.T) []int64 {
	t.Helper()
	f.store.mu.Lock()
	data, ok := f.store.objects[artifacts.StepMetricsKey("team", f.exp, f.trial)]
	f.store.mu.Unlock()
	if !ok {
		t.Fatal("no metrics.jsonl")
	}
	var steps []int64
	for line := range strings.Lines(string(data)) {
		var l struct {
			Step    int64              `json:"step"`
			Metrics map[string]float64 `json:"metrics"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil || len(l.Metrics) != 2 || !strings.HasSuffix(line, "}\n") {
			t.Fatalf("line %q: %v", line, err)
		}
		if want := 1 / float64(l.Step+1); l.Metrics["val_loss"] != want {
			t.Fatalf("line %q: val_loss %v; want %v", line, l.Metrics["val_loss"], want)
		}
		steps = append(steps, l.Step)
	}
	return steps
}

func stepsFrom(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestSeriesLine(t *testing.T) {
	got := string(seriesLine(stepmetrics.Report{Step: 40, Metrics: map[string]float64{"val_loss": 0.52, "acc": 1e-7, `a"b`: -3}}))
	want := `{"step":40,"metrics":{"a\"b":-3,"acc":1e-07,"val_loss":0.52}}` + "\n"
	if got != want {
		t.Errorf("seriesLine = %s; want %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Errorf("not JSON: %s", got)
	}
}

// TestRecorderStoresFullSeries: every report goes to metrics.jsonl, in
// chunks of at most one per interval while the trial runs, joined when it
// ends; a report after the end is refused.
func TestRecorderStoresFullSeries(t *testing.T) {
	f := newSeriesFixture(t, true)
	r := f.recorder()
	ctx := context.Background()
	// 1,000 steps in 30 s.
	for step := range int64(1000) {
		if err := f.report(t, r, step); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if step%100 == 99 {
			f.clk.Step(3 * time.Second)
			r.flush(ctx, false)
			r.stored.Wait()
		}
	}
	if n := f.store.putCount(); n < 2 || n > 4 {
		t.Errorf("%d chunks written for 1,000 steps in 30 s; want 2 to 4 (one per 10 s)", n)
	}
	sealed, err := r.Seal(ctx, f.exp, f.trial)
	if err != nil {
		t.Fatal(err)
	}
	wantURI := "s3://runs/" + artifacts.StepMetricsKey("team", f.exp, f.trial)
	if sealed.URI != wantURI || sealed.Stored == nil || *sealed.Stored != 1000 {
		t.Errorf("Seal = %+v; want %s with 1000 reports", sealed, wantURI)
	}
	if got := f.series(t); !slices.Equal(got, stepsFrom(0, 1000)) {
		t.Errorf("metrics.jsonl has %d steps (%v...); want 0 to 999 in order", len(got), got[:min(5, len(got))])
	}
	if c := f.chunks(); len(c) != 0 {
		t.Errorf("chunks left after Seal: %v", c)
	}
	if err := f.report(t, r, 1000); !errors.Is(err, endpoint.ErrTrialEnded) {
		t.Errorf("a report after Seal: %v; want ErrTrialEnded", err)
	}
	// Sealed again (a pass that did not end the trial came first): the
	// same answer, without the store.
	again, err := r.Seal(ctx, f.exp, f.trial)
	if err != nil || again.URI != sealed.URI || *again.Stored != 1000 {
		t.Errorf("Seal again = %+v, %v; want %+v", again, err, sealed)
	}

	// Recorded on the status, beside the curve.
	trial := f.trial.DeepCopy()
	sealed.Record(trial)
	if sm := trial.Status.StepMetrics; sm.URI != wantURI || *sm.StoredReports != 1000 || NeedsSeal(trial) {
		t.Errorf("recorded %+v", sm)
	}
}

// TestRecorderKeepsReportsTheStoreRefused: a chunk the store refuses stays
// in memory and is written with the next, under the same key; nothing is
// lost.
func TestRecorderKeepsReportsTheStoreRefused(t *testing.T) {
	f := newSeriesFixture(t, true)
	r := f.recorder()
	ctx := context.Background()
	f.store.setPutErr(errors.New("SlowDown (HTTP 503)"))
	for step := range int64(50) {
		if err := f.report(t, r, step); err != nil {
			t.Fatal(err)
		}
		f.clk.Step(time.Second)
		r.flush(ctx, false)
		r.stored.Wait()
	}
	if c := f.chunks(); len(c) != 0 {
		t.Fatalf("chunks written while the store refused: %v", c)
	}
	if _, err := r.Seal(ctx, f.exp, f.trial); err == nil {
		t.Fatal("Seal while the store refuses: nil error")
	}
	f.store.setPutErr(nil)
	sealed, err := r.Seal(ctx, f.exp, f.trial)
	if err != nil || *sealed.Stored != 50 {
		t.Fatalf("Seal = %+v, %v; want 50 reports", sealed, err)
	}
	if got := f.series(t); !slices.Equal(got, stepsFrom(0, 50)) {
		t.Errorf("metrics.jsonl steps %v; want 0 to 49", got)
	}
}

// TestRecorderSeriesAcrossARestart: a manager killed loses the reports of
// its last interval, no more; a report given again after the restart is
// stored once; the status says how many reports the file holds.
func TestRecorderSeriesAcrossARestart(t *testing.T) {
	f := newSeriesFixture(t, true)
	ctx := context.Background()
	r1 := f.recorder()
	for step := range int64(300) {
		if err := f.report(t, r1, step); err != nil {
			t.Fatal(err)
		}
		if step%100 == 99 {
			f.clk.Step(11 * time.Second)
			r1.flush(ctx, false)
			r1.stored.Wait()
		}
	}
	// Steps 300 to 349, then a crash before the next flush: they are
	// lost, from the status's curve and from the store.
	for step := int64(300); step < 350; step++ {
		if err := f.report(t, r1, step); err != nil {
			t.Fatal(err)
		}
	}
	// The second manager reads the curve back from the status (up to step
	// 299); the trainer goes on from 350, having had 200s.
	r2 := f.recorder()
	for step := int64(350); step < 400; step++ {
		if err := f.report(t, r2, step); err != nil {
			t.Fatal(err)
		}
	}
	trial := &crucible.Trial{}
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(f.trial), trial); err != nil {
		t.Fatal(err)
	}
	sealed, err := r2.Seal(ctx, f.exp, trial)
	if err != nil {
		t.Fatal(err)
	}
	want := append(stepsFrom(0, 300), stepsFrom(350, 400)...)
	if got := f.series(t); !slices.Equal(got, want) {
		t.Errorf("metrics.jsonl steps %d of them; want 0-299 and 350-399", len(got))
	}
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(f.trial), trial); err != nil {
		t.Fatal(err)
	}
	if *sealed.Stored != 350 || trial.Status.StepMetrics.Reports != 350 {
		t.Errorf("stored %d of %d reports; want 350 of 350 (the 50 lost were never written to the status either)",
			*sealed.Stored, trial.Status.StepMetrics.Reports)
	}

	// A third manager, after the chunks were joined but before the
	// trial's status recorded it, finds the file and says so, without a
	// count.
	r3 := f.recorder()
	again, err := r3.Seal(ctx, f.exp, trial)
	if err != nil || again.URI != sealed.URI || again.Stored != nil {
		t.Errorf("Seal after a restart = %+v, %v; want %s without a count", again, err, sealed.URI)
	}
	if got := f.series(t); !slices.Equal(got, want) {
		t.Error("metrics.jsonl changed")
	}
}

// TestSealWithoutAStore: without an s3 store the Recorder keeps no series
// and writes nothing, but still refuses reports once the trial ended.
func TestSealWithoutAStore(t *testing.T) {
	f := newSeriesFixture(t, false)
	r := f.recorder()
	ctx := context.Background()
	for step := range int64(20) {
		if err := f.report(t, r, step); err != nil {
			t.Fatal(err)
		}
	}
	f.clk.Step(time.Minute)
	r.flush(ctx, true)
	sealed, err := r.Seal(ctx, f.exp, f.trial)
	if err != nil || sealed != (Sealed{}) || f.store.putCount() != 0 {
		t.Errorf("Seal = %+v, %v after %d puts; want nothing stored", sealed, err, f.store.putCount())
	}
	if err := f.report(t, r, 20); !errors.Is(err, endpoint.ErrTrialEnded) {
		t.Errorf("a report after Seal: %v; want ErrTrialEnded", err)
	}

	// A trial that never reported, of an Experiment with a store: nothing
	// to write, and no call to the store.
	g := newSeriesFixture(t, true)
	sealed, err = g.recorder().Seal(ctx, g.exp, g.trial)
	if err != nil || sealed != (Sealed{}) {
		t.Errorf("Seal of a trial without step metrics = %+v, %v; want nothing", sealed, err)
	}
}

// TestSeriesFilter: the join keeps each step once, the first time, in
// increasing order, drops what is not a line of ours, and stops at the
// byte bound.
func TestSeriesFilter(t *testing.T) {
	line := func(step int) string { return `{"step":` + string(rune('0'+step)) + `,"metrics":{"x":1}}` + "\n" }
	tests := []struct {
		name  string
		lines []string
		max   int64
		want  []bool
	}{
		{"increasing", []string{line(0), line(1), line(5)}, 1 << 20, []bool{true, true, true}},
		{"a chunk written again", []string{line(0), line(1), line(1), line(2)}, 1 << 20, []bool{true, true, false, true}},
		{"overlapping chunks", []string{line(0), line(3), line(2), line(3), line(4)}, 1 << 20, []bool{true, true, false, false, true}},
		{"not ours", []string{"garbage\n", `{"metrics":{}}` + "\n", line(0)}, 1 << 20, []bool{false, false, true}},
		{"bounded", []string{line(0), line(1), line(2)}, int64(2 * len(line(0))), []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSeriesFilter(tt.max)
			var got []bool
			for _, l := range tt.lines {
				got = append(got, f.keep([]byte(l)))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %v; want %v", got, tt.want)
			}
		})
	}
}

// TestRecorderForgetsWhatItCannotStore: a curve whose store refuses its
// reports stays in memory, retried, for an hour after its last report,
// not for ever.
func TestRecorderForgetsWhatItCannotStore(t *testing.T) {
	f := newSeriesFixture(t, true)
	r := f.recorder()
	ctx := context.Background()
	f.store.setPutErr(errors.New("connection refused"))
	if err := f.report(t, r, 0); err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{11 * time.Minute, 59 * time.Minute} {
		f.clk.SetTime(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Add(after))
		r.flush(ctx, false)
		r.stored.Wait()
		r.flush(ctx, false) // the pass after the store answered
		if len(r.curves) != 1 {
			t.Fatalf("%s after its last report, with reports unstored: curve forgotten", after)
		}
	}
	f.clk.SetTime(time.Date(2026, 12, 1, 13, 0, 1, 0, time.UTC))
	r.flush(ctx, false)
	r.stored.Wait()
	r.flush(ctx, false)
	if len(r.curves) != 0 {
		t.Errorf("an hour after its last report, the curve whose store refuses is still in memory")
	}
}
