package logging

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	logging "cloud.google.com/go/logging/apiv2"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func wantLoggingQuota(t *testing.T, err error, msg, reason, metric, limit, value string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("error = %v, want RESOURCE_EXHAUSTED", err)
	}
	if st.Message() != msg {
		t.Errorf("message:\n got %s\nwant %s", st.Message(), msg)
	}
	var info *errdetails.ErrorInfo
	var help *errdetails.Help
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.Help:
			help = d
		}
	}
	if info == nil || help == nil || len(help.Links) != 1 {
		t.Fatalf("details = %v, want ErrorInfo and Help", st.Details())
	}
	want := map[string]string{"consumer": "projects/4242", "quota_limit": limit, "quota_limit_value": value,
		"quota_location": "global", "quota_metric": metric, "service": "logging.googleapis.com"}
	if info.Reason != reason || info.Domain != "googleapis.com" || len(info.Metadata) != len(want) {
		t.Errorf("ErrorInfo = %v", info)
	}
	for k, v := range want {
		if info.Metadata[k] != v {
			t.Errorf("ErrorInfo.metadata[%s] = %q, want %q", k, info.Metadata[k], v)
		}
	}
}

func TestListQuota(t *testing.T) {
	clock := &testClock{now: time.Unix(1_800_000_000, 0)}
	_, opts := startService(t, Config{ProjectNumbers: map[string]string{testProject: "4242"}, Now: clock.Now})
	c, err := logging.NewClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list := func(project string) error {
		_, err := c.ListLogEntries(context.Background(), &loggingpb.ListLogEntriesRequest{ResourceNames: []string{"projects/" + project}}).Next()
		if err != nil && err.Error() == "no more items in iterator" {
			return nil
		}
		return err
	}
	for i := range DefaultListsPerMinute {
		if err := list(testProject); err != nil {
			t.Fatalf("list %d: %v", i, err)
		}
	}
	wantLoggingQuota(t, list(testProject),
		"Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service 'logging.googleapis.com' "+
			"for consumer 'project_number:4242'. To see usage, go to https://console.cloud.google.com/iam-admin/quotas?"+
			"metric=logging.googleapis.com/read_requests&limit=ReadRequestsPerMinutePerProject&qs_error_code=INSUFFICIENT_TOKENS"+
			"&project="+testProject+"&service=logging.googleapis.com. To request a quota increase, see https://cloud.google.com/logging/quotas.",
		"RATE_LIMIT_EXCEEDED", "logging.googleapis.com/read_requests", "ReadRequestsPerMinutePerProject", "60")
	if err := list("another-project"); err != nil {
		t.Errorf("another project's list: %v (the quota is per project)", err)
	}
	clock.Advance(time.Second)
	if err := list(testProject); err != nil {
		t.Errorf("list after 1s: %v", err)
	}
	if err := list(testProject); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second list after 1s: %v, want RESOURCE_EXHAUSTED", err)
	}
}

func TestTailSessionsQuota(t *testing.T) {
	svc, opts := startService(t, Config{ProjectNumbers: map[string]string{testProject: "4242"}, TailSessions: 2})
	open := func() int { svc.mu.Lock(); defer svc.mu.Unlock(); return len(svc.tails) }
	c, err := logging.NewClient(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tail := func(ctx context.Context) (loggingpb.LoggingServiceV2_TailLogEntriesClient, error) {
		s, err := c.TailLogEntries(ctx)
		if err != nil {
			return nil, err
		}
		return s, s.Send(&loggingpb.TailLogEntriesRequest{ResourceNames: []string{"projects/" + testProject}})
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	for range 2 {
		if _, err := tail(ctx1); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); open() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions open, want 2", open())
		}
	}
	// The third session is refused: its first Recv returns the error.
	ctx3, cancel3 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel3()
	s, third := tail(ctx3)
	if third == nil {
		_, third = s.Recv()
	}
	wantLoggingQuota(t, third,
		"Quota exceeded for quota metric 'Live tailing sessions' and limit 'Live tailing sessions per project' of service "+
			"'logging.googleapis.com' for consumer 'project_number:4242'. To see usage, go to https://console.cloud.google.com/iam-admin/quotas?"+
			"metric=logging.googleapis.com/tail_sessions&limit=TailSessionsPerProject&project="+testProject+
			"&service=logging.googleapis.com. To request a quota increase, see https://cloud.google.com/logging/quotas.",
		"RESOURCE_QUOTA_EXCEEDED", "logging.googleapis.com/tail_sessions", "TailSessionsPerProject", "2")
	// Closing sessions frees their places.
	cancel1()
	for deadline := time.Now().Add(10 * time.Second); open() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open after their clients left", open())
		}
	}
	ctx4, cancel4 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel4()
	s, err = tail(ctx4)
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.DeadlineExceeded { // admitted, and waiting for entries
		t.Errorf("a session after the others closed: %v", err)
	}
}
