// Package backoff is how soon the controllers retry a failed pass.
package backoff

import (
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// MaxDelay caps the delay between retries of one object. client-go's
// default cap, 1000 s, would leave a deleted Experiment waiting a quarter of
// an hour after its artifact store came back.
const MaxDelay = time.Minute

// RateLimiter is client-go's default controller rate limiter with the
// per-object delay capped at MaxDelay: 5 ms doubling per failure, and at
// most 10 retries per second overall (bursts of 100).
func RateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, MaxDelay),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}
