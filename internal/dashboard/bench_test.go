package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	crucible "github.com/crucible-dev/crucible/api/v1alpha1"
	"github.com/crucible-dev/crucible/test/builder"
)

// benchTrials is the size of the sweep the benchmarks render: issue 14's
// 10,000 trials.
const benchTrials = 10000

// memTrials is a trial source in memory.
type memTrials []crucible.Trial

func (m memTrials) experimentTrials(context.Context, string, string) ([]crucible.Trial, error) {
	return m, nil
}

// bigSweep is an Experiment of n finished trials as the operator records
// them: three parameters (one on a log scale), four metrics, conditions,
// artifacts and provenance.
func bigSweep(n int) (*crucible.Experiment, []crucible.Trial) {
	exp := builder.MakeExperiment("big", testNS).UID("big-uid").
		Values("optimizer", "adam", "sgd", "adamw", "lion").IntRange("depth", 2, 50, 2).
		FloatRange("lr", "1e-5", "1e-1", 100, crucible.ScaleLog).Obj()
	exp.Status = crucible.ExperimentStatus{Phase: crucible.ExperimentSucceeded,
		Trials: crucible.TrialCounts{Total: int32(n), Created: int32(n), Succeeded: int32(n)}}
	opts := []string{"adam", "sgd", "adamw", "lion"}
	trials := make([]crucible.Trial, n)
	for i := range n {
		obj := fmt.Sprintf("0.%06d", (i*7919)%1000000)
		t := builder.MakeTrial(exp, fmt.Sprintf("big-%012x", i*104729)).Index(int64(i)).Seed(int64(1234+i%3)).
			Param("optimizer", opts[i%4]).Param("depth", fmt.Sprint(2+2*(i/4%25))).Param("lr", fmt.Sprintf("%g", 1e-5*float64(1+i%100))).Obj()
		t.CreationTimestamp = metav1.NewTime(builder.T0)
		t.Status = crucible.TrialStatus{
			Phase: crucible.TrialSucceeded, Objective: obj, JobName: t.Name,
			Metrics:   map[string]string{"val_loss": obj, "accuracy": "0.91", "train_loss": "0.2", "epochs": "30"},
			StartTime: &metav1.Time{Time: builder.T0}, CompletionTime: &metav1.Time{Time: builder.T0.Add(300e9)},
			Conditions: []metav1.Condition{{Type: "Succeeded", Status: metav1.ConditionTrue, Reason: "MetricsRecorded", Message: "the run exited 0", LastTransitionTime: metav1.NewTime(builder.T0)}},
			Artifacts: &crucible.TrialArtifacts{URI: "s3://bucket/ml/big/" + t.Name + "/", Objects: ptr.To[int64](12), Bytes: ptr.To[int64](1 << 20),
				ManifestDigest: "sha256:" + strings.Repeat("ab", 32)},
			Provenance: &crucible.TrialProvenance{Digest: "sha256:" + strings.Repeat("cd", 32), URI: "s3://bucket/ml/big/" + t.Name + ".provenance.intoto.jsonl"},
			Attempts:   1,
		}
		trials[i] = *t
	}
	return exp, trials
}

func benchServer(b *testing.B) *Server {
	exp, trials := bigSweep(benchTrials)
	c := builder.NewClientBuilder(exp).Build()
	s, err := New(c, kubefake.NewClientset(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	s.trials = memTrials(trials)
	return s
}

func benchGet(b *testing.B, s *Server, path string) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkExperimentPage renders the page of a sweep of 10,000 trials:
// rank all of them by objective, render the first 100 rows. It leaves out
// the list calls to the API server (see BenchmarkDecodeTrials).
func BenchmarkExperimentPage(b *testing.B) {
	benchGet(b, benchServer(b), "/namespaces/ml/experiments/big")
}

// BenchmarkExperimentPageLast renders its last page of 200 rows, sorted by
// a parameter.
func BenchmarkExperimentPageLast(b *testing.B) {
	benchGet(b, benchServer(b), "/namespaces/ml/experiments/big?sort=lr&limit=200&page=50")
}

// BenchmarkTrialsJSON writes the plots' data of 10,000 trials.
func BenchmarkTrialsJSON(b *testing.B) {
	benchGet(b, benchServer(b), "/namespaces/ml/experiments/big/trials.json")
}

// BenchmarkDecodeTrials decodes 10,000 trials from the JSON of 20 list
// pages of 500, as the client does with the API server's answers: the
// part of a page's server time spent on the dashboard's side of the list.
func BenchmarkDecodeTrials(b *testing.B) {
	_, trials := bigSweep(benchTrials)
	var pages [][]byte
	for i := 0; i < len(trials); i += listPageSize {
		l := crucible.TrialList{TypeMeta: metav1.TypeMeta{APIVersion: crucible.GroupVersion.String(), Kind: "TrialList"},
			Items: trials[i:min(i+listPageSize, len(trials))]}
		for j := range l.Items {
			l.Items[j].TypeMeta = metav1.TypeMeta{APIVersion: crucible.GroupVersion.String(), Kind: "Trial"}
		}
		p, err := json.Marshal(l)
		if err != nil {
			b.Fatal(err)
		}
		pages = append(pages, p)
	}
	dec := serializer.NewCodecFactory(Scheme).UniversalDeserializer()
	b.ReportAllocs()
	total := 0
	for _, p := range pages {
		total += len(p)
	}
	b.ReportMetric(float64(total), "json-bytes")
	for b.Loop() {
		for _, p := range pages {
			if _, _, err := dec.Decode(p, nil, &crucible.TrialList{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
