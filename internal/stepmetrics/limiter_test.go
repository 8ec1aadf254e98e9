package stepmetrics

import (
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestLimiter(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(RateLimits{PerSecond: 10, Burst: 3}, clk)

	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("report %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("Allow after the burst = %v, %v; want false, 100ms", ok, wait)
	}
	// A refused report takes no token: the wait does not grow.
	if ok, wait := l.Allow("a"); ok || wait != 100*time.Millisecond {
		t.Fatalf("Allow again = %v, %v; want false, 100ms", ok, wait)
	}
	// Another trial has its own bucket.
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("trial b refused")
	}
	clk.SetTime(clk.Now().Add(40 * time.Millisecond))
	if ok, wait := l.Allow("a"); ok || wait != 60*time.Millisecond {
		t.Fatalf("Allow 40ms later = %v, %v; want false, 60ms", ok, wait)
	}
	clk.SetTime(clk.Now().Add(60 * time.Millisecond))
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("Allow once a token is back refused")
	}
	// b's bucket is full again, so that Allow forgot it.
	if got := l.Len(); got != 1 {
		t.Errorf("Len with b idle = %d, want 1", got)
	}
	l.Forget("a")
	if got := l.Len(); got != 0 {
		t.Errorf("Len after Forget = %d, want 0", got)
	}
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("a forgotten trial starts with a full bucket; report %d refused", i)
		}
	}
}

// TestLimiterBounded checks that many trials do not grow the Limiter past
// MaxTrials, that idle trials are forgotten, and that an active trial is
// remembered while there is room.
func TestLimiterBounded(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLimiter(RateLimits{PerSecond: 10, Burst: 2, MaxTrials: 100}, clk)

	// Drain "busy"; 1,000 other trials then report once each, 10ms apart,
	// and become idle 200ms later.
	l.Allow("busy")
	l.Allow("busy")
	for i := range 1000 {
		l.Allow(fmt.Sprint("t", i))
		if n := l.Len(); n > 100 {
			t.Fatalf("after %d trials the Limiter remembers %d, more than MaxTrials", i+1, n)
		}
		clk.SetTime(clk.Now().Add(10 * time.Millisecond))
	}
	// Only the trials of the last 200ms are not idle; the sweep forgets
	// the idle ones as new trials come.
	if n := l.Len(); n > 25 {
		t.Errorf("the Limiter remembers %d trials; only about 20 are not idle", n)
	}

	// While there is room, a drained trial stays drained.
	l2 := NewLimiter(RateLimits{PerSecond: 1, Burst: 1, MaxTrials: 10}, clk)
	l2.Allow("busy")
	for i := range 5 {
		l2.Allow(fmt.Sprint("t", i))
	}
	if ok, _ := l2.Allow("busy"); ok {
		t.Error("a drained trial was allowed while the Limiter had room")
	}
}
