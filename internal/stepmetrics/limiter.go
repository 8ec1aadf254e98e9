package stepmetrics

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

const (
	// DefaultRate is RateLimits.PerSecond when it is 0: ten reports a second
	// is more than a trainer needs to draw its curves (History keeps 100
	// points), and bounds the status writes one trial causes.
	DefaultRate = 10
	// DefaultBurst is RateLimits.Burst when it is 0: a trainer may send
	// twenty reports at once, say after an evaluation pass that reports
	// several steps.
	DefaultBurst = 20
	// DefaultMaxTrials is RateLimits.MaxTrials when it is 0. An entry takes
	// about 200 bytes, so the map stays under 2 MB.
	DefaultMaxTrials = 10_000
	// sweep is how many least recently seen entries each Allow checks for
	// idleness: more than one, so the map shrinks faster than it grows.
	sweep = 2
)

// RateLimits bounds how often each trial may report. The zero RateLimits is
// the defaults.
type RateLimits struct {
	// PerSecond is the sustained rate of reports per trial. 0 means
	// DefaultRate.
	PerSecond float64
	// Burst is how many reports a trial may send at once. 0 means
	// DefaultBurst.
	Burst int
	// MaxTrials bounds how many trials the Limiter remembers. 0 means
	// DefaultMaxTrials.
	MaxTrials int
}

// WithDefaults returns l with its zero (or negative) fields set to their
// defaults.
func (l RateLimits) WithDefaults() RateLimits {
	if l.PerSecond <= 0 {
		l.PerSecond = DefaultRate
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.MaxTrials <= 0 {
		l.MaxTrials = DefaultMaxTrials
	}
	return l
}

// Limiter is a token bucket per trial, keyed by the trial's UID (a name may
// be reused by a new trial; a UID never is).
//
// Its memory is bounded: it remembers at most MaxTrials trials. A trial whose
// bucket is full again is idle, and forgetting it changes nothing, since a
// trial it does not remember starts with a full bucket; each Allow forgets
// the least recently seen trials if they are idle. When MaxTrials trials are
// remembered and none is idle, Allow forgets the least recently seen one
// anyway, which at worst grants it a fresh burst.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	limits RateLimits
	clock  clock.PassiveClock

	mu      sync.Mutex
	entries map[string]*list.Element // of *entry
	lru     list.List                // front: least recently seen
}

type entry struct {
	uid     string
	limiter *rate.Limiter
}

// NewLimiter returns a Limiter that reads the time from clk.
func NewLimiter(limits RateLimits, clk clock.PassiveClock) *Limiter {
	return &Limiter{limits: limits.WithDefaults(), clock: clk, entries: map[string]*list.Element{}}
}

// Limits returns the Limiter's limits, defaults applied.
func (l *Limiter) Limits() RateLimits { return l.limits }

// Allow takes one report's token from the trial's bucket. If the bucket is
// empty it takes nothing and returns false with how long until a token is
// there.
func (l *Limiter) Allow(uid string) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()

	el, ok := l.entries[uid]
	if ok {
		l.lru.MoveToBack(el)
	} else {
		if len(l.entries) >= l.limits.MaxTrials {
			l.forget(l.lru.Front())
		}
		el = l.lru.PushBack(&entry{uid: uid, limiter: rate.NewLimiter(rate.Limit(l.limits.PerSecond), l.limits.Burst)})
		l.entries[uid] = el
	}
	for range sweep {
		front := l.lru.Front()
		if front == el || front.Value.(*entry).limiter.TokensAt(now) < float64(l.limits.Burst) {
			break
		}
		l.forget(front)
	}

	r := el.Value.(*entry).limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// Forget drops what the Limiter remembers of a trial, for example once it
// ended.
func (l *Limiter) Forget(uid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[uid]; ok {
		l.forget(el)
	}
}

// Len returns how many trials the Limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *Limiter) forget(el *list.Element) {
	delete(l.entries, el.Value.(*entry).uid)
	l.lru.Remove(el)
}
