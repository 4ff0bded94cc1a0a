package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/time/rate"
	"google.golang.org/api/iterator"

	"github.com/runsock/runsock/controlplane/internal/googlequota"
)

// Default Admin API quotas the driver keeps within, per minute in its region: the strictest values gcpsim
// simulates (Google's defaults are not documented; a project with raised quotas raises these too).
const (
	DefaultRunJobsPerMinute = 60
	DefaultWritesPerMinute  = 60
	DefaultReadsPerMinute   = 300
	// DefaultQuotaRetryFor bounds how long a call Cloud Run refuses for a rate quota is retried: a minute, the
	// window in which a per-minute quota refills.
	DefaultQuotaRetryFor = time.Minute
)

// Quotas are the Admin API rate quotas the driver stays within. Zero values take the defaults above.
type Quotas struct {
	RunJobsPerMinute, WritesPerMinute, ReadsPerMinute int
	// RetryFor bounds the retries of a call refused with RESOURCE_EXHAUSTED for a rate quota (another client of the
	// project used it up); after that the error names the quota.
	RetryFor time.Duration
}

// class is the quota an Admin API method is charged to.
type class int

const (
	classRun   class = iota // RunJob
	classWrite              // create/update/delete job, cancel/delete execution
	classRead               // get/list/wait
)

// backgroundReserve is the share of the read bucket that background polls leave to requests users wait for.
const backgroundReserve = 0.25

// limiter keeps the driver's calls within the quotas: a client-side token bucket per class (so a burst of launches
// queues here instead of failing at Google), and retry with backoff when Cloud Run still refuses a rate quota.
type limiter struct {
	buckets [3]*rate.Limiter
	retry   googlequota.Retrier
}

func newLimiter(q Quotas) *limiter {
	perMinute := func(n, def int) *rate.Limiter {
		if n <= 0 {
			n = def
		}
		return rate.NewLimiter(rate.Limit(float64(n)/60), n)
	}
	retryFor := q.RetryFor
	if retryFor <= 0 {
		retryFor = DefaultQuotaRetryFor
	}
	return &limiter{
		buckets: [3]*rate.Limiter{
			classRun:   perMinute(q.RunJobsPerMinute, DefaultRunJobsPerMinute),
			classWrite: perMinute(q.WritesPerMinute, DefaultWritesPerMinute),
			classRead:  perMinute(q.ReadsPerMinute, DefaultReadsPerMinute),
		},
		retry: googlequota.Retrier{For: retryFor},
	}
}

type backgroundKey struct{}

// Background marks ctx's Admin API reads as background polling (Wait's poll, the reconciler's checks): such a
// read takes a token only while a quarter of the read quota is left, and otherwise fails at once with an error
// for which IsDeferred is true, so polls never queue ahead of the requests users wait for.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// foreground undoes Background for the calls made under ctx.
func foreground(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, nil)
}

var errDeferred = errors.New("cloudrun: read deferred to keep within the read quota")

// IsDeferred reports whether a background read was skipped to keep within the read quota.
func IsDeferred(err error) bool { return errors.Is(err, errDeferred) }

// wait takes a token of class c, waiting for one (or failing at once for a background read with too few left).
func (l *limiter) wait(ctx context.Context, c class) error {
	b := l.buckets[c]
	if c == classRead && ctx.Value(backgroundKey{}) != nil {
		if b.Tokens() < float64(b.Burst())*backgroundReserve+1 || !b.Allow() {
			return errDeferred
		}
		return nil
	}
	if err := b.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The wait would outlast ctx's deadline.
		return fmt.Errorf("cloudrun: waiting for quota: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// do runs fn under class c's quota: it waits for a token before each attempt, and retries while Cloud Run refuses
// a rate quota (googlequota.Retrier). It returns fn's last error untranslated.
func (l *limiter) do(ctx context.Context, c class, fn func(ctx context.Context) error) error {
	return l.retry.Do(ctx, func(ctx context.Context) error {
		if err := l.wait(ctx, c); err != nil {
			return err
		}
		return fn(ctx)
	})
}

// list iterates under the read quota: a token before each page is fetched (fn calls page when one is due), and the whole listing again (fn
// restarts it) while Cloud Run refuses the read quota.
func (l *limiter) list(ctx context.Context, fn func(ctx context.Context, page func(it pager) error) error) error {
	page := func(pager) error { return l.wait(ctx, classRead) }
	return l.retry.Do(ctx, func(ctx context.Context) error { return fn(ctx, page) })
}

// pager is what the Google iterators share.
type pager interface{ PageInfo() *iterator.PageInfo }

// quotaError is the user's error for a RESOURCE_EXHAUSTED from Cloud Run: it names the quota Cloud Run named, says
// how long runsock retried, and adds advice where the call site has some (allocation quotas only).
func quotaError(err error, what, advice string) error {
	return withKind(errdefs.ErrResourceExhausted, "%s", googlequota.Describe(err, what, "Cloud Run", advice))
}
