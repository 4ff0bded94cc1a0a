package googlequota

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorInfo reasons Google uses for quotas (google/api/error_reason.proto).
const (
	ReasonRate     = "RATE_LIMIT_EXCEEDED"     // a per-minute rate quota: waiting cures it
	ReasonResource = "RESOURCE_QUOTA_EXCEEDED" // an allocation quota (how many may exist or run)
)

// Backoff between retries: 1 s doubling to 16 s, 80–120 % jitter so waiting callers do not retry in step.
const (
	backoffStart = time.Second
	backoffMax   = 16 * time.Second
)

// Retrier retries calls refused for a rate quota. The zero value is not usable; set For.
type Retrier struct {
	For   time.Duration                                    // how long to keep retrying
	Now   func() time.Time                                 // nil = time.Now
	Sleep func(ctx context.Context, d time.Duration) error // nil = a timer; it must return ctx's error when ctx ends
}

// Do runs fn, and again with backoff while it fails with a retryable refusal, for at most r.For. When the retries
// run out it returns an *Exceeded wrapping fn's last error; other errors come back as fn returned them.
func (r Retrier) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	now, sleep := r.Now, r.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = Sleep
	}
	start := now()
	delay := backoffStart
	for {
		err := fn(ctx)
		if !Retryable(err) {
			return err
		}
		d := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
		if now().Add(d).Sub(start) > r.For {
			return &Exceeded{Err: err, Retried: now().Sub(start)}
		}
		if serr := sleep(ctx, d); serr != nil {
			return serr
		}
		delay = min(delay*2, backoffMax)
	}
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Exceeded is a rate-quota refusal that outlasted the retries.
type Exceeded struct {
	Err     error
	Retried time.Duration
}

func (e *Exceeded) Error() string { return e.Err.Error() }
func (e *Exceeded) Unwrap() error { return e.Err }

// Retryable reports whether err is a refusal that waiting may cure: a rate quota, or RESOURCE_EXHAUSTED that does
// not say which quota. Allocation quotas are not: they free up only when something ends.
func Retryable(err error) bool {
	if status.Code(err) != codes.ResourceExhausted {
		return false
	}
	info := Info(err)
	return info == nil || info.GetReason() == ReasonRate
}

// grpcStatus is the status of the gRPC error err wraps, with Google's own message (status.FromError would put the
// whole wrapped text in the message).
func grpcStatus(err error) *status.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus()
	}
	return status.Convert(err)
}

// Info returns the ErrorInfo Google attached to err, or nil.
func Info(err error) *errdetails.ErrorInfo {
	for _, d := range grpcStatus(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// Describe words a RESOURCE_EXHAUSTED refusal for the user: "{what}: {product} quota exceeded: {quota_limit} (metric
// {quota_metric}, limit {value} in {location}); still exceeded after retrying for {d}[; {advice}]. {product} said:
// {Google's message}". It names only what Google named; advice is added for allocation quotas only.
func Describe(err error, what, product, advice string) string {
	var retried time.Duration
	var ex *Exceeded
	if errors.As(err, &ex) {
		retried = ex.Retried.Round(time.Second)
	}
	info := Info(err)
	b := fmt.Appendf(nil, "%s: %s quota exceeded", what, product)
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
	if advice != "" && info.GetReason() == ReasonResource {
		b = fmt.Appendf(b, "; %s", advice)
	}
	return string(fmt.Appendf(b, ". %s said: %s", product, grpcStatus(err).Message()))
}
