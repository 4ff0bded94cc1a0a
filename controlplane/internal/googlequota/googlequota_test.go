package googlequota

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func quotaErr(reason string) error {
	st, _ := status.New(codes.ResourceExhausted, "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per region' of service 'run.googleapis.com'.").
		WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "googleapis.com", Metadata: map[string]string{
			"quota_limit": "ReadPerMinutePerProjectRegion", "quota_metric": "run.googleapis.com/read_regional",
			"quota_limit_value": "300", "quota_location": "us-central1"}})
	return st.Err()
}

func TestRetryThenDescribe(t *testing.T) {
	now := time.Unix(0, 0)
	var sleeps []time.Duration
	r := Retrier{For: time.Minute, Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			now = now.Add(d)
			return nil
		}}
	calls := 0
	err := r.Do(context.Background(), func(context.Context) error { calls++; return quotaErr(ReasonRate) })
	if calls < 5 || len(sleeps) != calls-1 {
		t.Fatalf("%d calls, sleeps %v", calls, sleeps)
	}
	got := Describe(fmt.Errorf("wrapped: %w", err), "get execution x", "Cloud Run", "ignored for rate quotas")
	want := "get execution x: Cloud Run quota exceeded: ReadPerMinutePerProjectRegion (metric run.googleapis.com/read_regional, " +
		"limit 300 in us-central1); still exceeded after retrying for "
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ". Cloud Run said: Quota exceeded for quota metric 'Read requests' and "+
		"limit 'Read requests per minute per region' of service 'run.googleapis.com'.") || strings.Contains(got, "ignored") {
		t.Errorf("Describe = %s", got)
	}
}

func TestAllocationQuotaIsNotRetried(t *testing.T) {
	calls := 0
	err := Retrier{For: time.Minute}.Do(context.Background(), func(context.Context) error { calls++; return quotaErr(ReasonResource) })
	if calls != 1 || status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("%d calls, %v", calls, err)
	}
	if got := Describe(err, "create job j", "Cloud Run", "prune"); !strings.Contains(got, "; prune. Cloud Run said:") {
		t.Errorf("Describe = %s", got)
	}
	if err := (Retrier{For: time.Minute}).Do(context.Background(), func(context.Context) error { return errdefs.ErrNotFound }); err != errdefs.ErrNotFound {
		t.Errorf("other errors: %v", err)
	}
}
