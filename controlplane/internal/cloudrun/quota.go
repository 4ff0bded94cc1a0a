package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/time/rate"
	"google.golang.org/api/iterator"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// Quota retry backoff: 1 s doubling to 16 s, with jitter so that waiting callers do not retry in step.
const (
	quotaBackoffStart = time.Second
	quotaBackoffMax   = 16 * time.Second
)

// backgroundReserve is the share of the read bucket that background polls leave to requests users wait for.
const backgroundReserve = 0.25

// limiter keeps the driver's calls within the quotas: a client-side token bucket per class (so a burst of launches
// queues here instead of failing at Google), and retry with backoff when Cloud Run still refuses a rate quota.
type limiter struct {
	buckets  [3]*rate.Limiter
	retryFor time.Duration
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
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
		retryFor: retryFor, now: time.Now, sleep: sleepCtx,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type backgroundKey struct{}

// Background marks ctx's Admin API reads as background polling (the backstop, the reconciler's checks): such a
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

// do runs fn under class c's quota: it waits for a token before each attempt (see retry).
func (l *limiter) do(ctx context.Context, c class, fn func(ctx context.Context) error) error {
	return l.retry(ctx, func(ctx context.Context) error {
		if err := l.wait(ctx, c); err != nil {
			return err
		}
		return fn(ctx)
	})
}

// retry runs fn, and again with backoff while Cloud Run refuses a rate quota, for at most retryFor. It returns
// fn's last error untranslated (wrapped in a quotaExceeded when the retries ran out).
func (l *limiter) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	start := l.now()
	delay := quotaBackoffStart
	for {
		err := fn(ctx)
		if !retryable(err) {
			return err
		}
		// Jitter: 80–120 % of the delay.
		d := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		if l.now().Add(d).Sub(start) > l.retryFor {
			return &quotaExceeded{err: err, retried: l.now().Sub(start)}
		}
		if serr := l.sleep(ctx, d); serr != nil {
			return serr
		}
		delay = min(delay*2, quotaBackoffMax)
	}
}

// list iterates under the read quota: a token before each page is fetched, and the whole listing again (fn
// restarts it) while Cloud Run refuses the read quota.
func (l *limiter) list(ctx context.Context, fn func(ctx context.Context, page func(it pager) error) error) error {
	page := func(it pager) error {
		if it.PageInfo().Remaining() > 0 {
			return nil // the next item is already fetched
		}
		return l.wait(ctx, classRead)
	}
	return l.retry(ctx, func(ctx context.Context) error { return fn(ctx, page) })
}

// pager is what the Google iterators share.
type pager interface{ PageInfo() *iterator.PageInfo }

// retryable reports whether err is a refusal that waiting may cure: a rate quota, or RESOURCE_EXHAUSTED that does
// not say which quota. Allocation quotas (jobs, running executions) are not retried: they free up only when
// something ends.
func retryable(err error) bool {
	if status.Code(err) != codes.ResourceExhausted {
		return false
	}
	info := errorInfo(err)
	return info == nil || info.GetReason() == reasonRate
}

const (
	reasonRate     = "RATE_LIMIT_EXCEEDED"
	reasonResource = "RESOURCE_QUOTA_EXCEEDED"
)

func errorInfo(err error) *errdetails.ErrorInfo {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// quotaExceeded is a rate-quota refusal that outlasted the retries.
type quotaExceeded struct {
	err     error
	retried time.Duration
}

func (q *quotaExceeded) Error() string { return q.err.Error() }
func (q *quotaExceeded) Unwrap() error { return q.err }

// quotaError is the user's error for a RESOURCE_EXHAUSTED from Cloud Run: it names the quota Cloud Run named
// (ErrorInfo's quota_limit and quota_metric, with Google's own message), says how long runsock retried, and adds
// advice where the call site has some. Without ErrorInfo it says only what Cloud Run said.
func quotaError(err error, what, advice string) error {
	var retried time.Duration
	var qe *quotaExceeded
	if errors.As(err, &qe) {
		retried = qe.retried.Round(time.Second)
	}
	msg := status.Convert(err).Message()
	info := errorInfo(err)
	var b []byte
	b = fmt.Appendf(b, "%s: Cloud Run quota exceeded", what)
	if md := info.GetMetadata(); md["quota_limit"] != "" {
		b = fmt.Appendf(b, ": %s (metric %s", md["quota_limit"], md["quota_metric"])
		if v := md["quota_limit_value"]; v != "" {
			b = fmt.Appendf(b, ", limit %s", v)
		}
		if loc := md["quota_location"]; loc != "" {
			b = fmt.Appendf(b, " in %s", loc)
		}
		b = append(b, ')')
	}
	if retried > 0 {
		b = fmt.Appendf(b, "; still exceeded after retrying for %s", retried)
	}
	if advice != "" && info.GetReason() == reasonResource {
		b = fmt.Appendf(b, "; %s", advice)
	}
	b = fmt.Appendf(b, ". Cloud Run said: %s", msg)
	return withKind(errdefs.ErrResourceExhausted, "%s", b)
}
