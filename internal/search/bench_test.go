package search

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkTPEPropose10000 measures a TPE proposal with 10,000 observed
// trials over a 6-dimensional space of every kind. Targets: under 50 ms and
// 50 MiB per proposal.
func BenchmarkTPEPropose10000(b *testing.B) {
	space := mixedSpace[:6]
	random := mustNew(b, Random, space, 1, Options{})
	observed := make([]Observation, 10000)
	for i := range observed {
		p, err := random.Propose(int64(i), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		observed[i] = Observation{Point: p, Value: mixedObjective(p)}
	}
	s := mustNew(b, TPE, space, 1, Options{})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Propose(int64(len(observed)+i), observed, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MiB/op")
}
