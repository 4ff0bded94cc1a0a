package cloudrun

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"

	"github.com/runsock/runsock/controlplane/internal/containers"
	simrun "github.com/runsock/runsock/integration/gcpsim/cloudrun"
	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

// These tests run the driver against gcpsim's Cloud Run service in-process, with quotas shrunk and one fake clock
// for both: the driver's backoff sleeps advance it, so a minute of retries takes no time.

type simClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return ctx.Err()
}

// runningRunner keeps every task running until its execution is cancelled.
type runningRunner struct{}

func (runningRunner) Run(ctx context.Context, spec tasks.Spec, started func(time.Time)) tasks.Result {
	started(time.Now())
	<-ctx.Done()
	return tasks.Result{Outcome: tasks.Cancelled, Message: tasks.MsgCancelled, Ended: time.Now()}
}

func simDriver(t *testing.T, sim simrun.Config, q Quotas) (*Driver, *simClock) {
	t.Helper()
	clock := &simClock{now: time.Unix(1_800_000_000, 0)}
	sim.Project, sim.ProjectNumber, sim.Now = "quota-test", "777", clock.Now
	svc, err := simrun.New(sim, runningRunner{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(l)
	t.Cleanup(func() { g.Stop(); svc.Close() })
	d, err := New(context.Background(), Config{Project: "quota-test", Region: "us-central1", Endpoint: l.Addr().String(), Insecure: true, Quotas: q})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	d.q.retry.Now, d.q.retry.Sleep = clock.Now, clock.Sleep
	return d, clock
}

func spec() containers.LaunchSpec {
	return containers.LaunchSpec{Image: "127.0.0.1:1/quota-test/runsock/alpine@sha256:" + strings.Repeat("a", 64),
		Args: []string{"true"}, CPU: "1", MemoryBytes: 512 << 20, ContainerID: strings.Repeat("b", 64)}
}

func TestLaunchRetriesARateQuotaWithBackoff(t *testing.T) {
	d, clock := simDriver(t, simrun.Config{RunJobsPerMinute: 2}, Quotas{})
	ctx := context.Background()
	for i := range 3 { // the third is refused until a token has refilled (30 s)
		if _, err := d.Launch(ctx, spec()); err != nil {
			t.Fatalf("launch %d: %v", i, err)
		}
	}
	// Backoff 1, 2, 4, 8, 16, 16 s (±20 % jitter) until the 30 s a token takes have passed.
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second}
	if n := len(clock.sleeps); n < 4 || n > len(want) {
		t.Fatalf("slept %v, want about %v", clock.sleeps, want[:5])
	}
	for i, d := range clock.sleeps {
		if d < want[i]*8/10 || d > want[i]*12/10 {
			t.Errorf("sleep %d = %v, want %v ±20%%", i, d, want[i])
		}
	}
}

func TestLaunchNamesTheQuotaWhenRetriesRunOut(t *testing.T) {
	d, clock := simDriver(t, simrun.Config{RunJobsPerMinute: 1}, Quotas{})
	ctx := context.Background()
	if _, err := d.Launch(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	_, err := d.Launch(ctx, spec())
	if !errdefs.IsResourceExhausted(err) {
		t.Fatalf("err = %v, want a resource-exhausted kind", err)
	}
	for _, part := range []string{
		"Cloud Run quota exceeded: JobRunRequestsPerMinutePerProjectRegion (metric run.googleapis.com/job_run_requests_regional, limit 1 in us-central1)",
		"still exceeded after retrying for",
		"limit 'Job run requests per minute per region' of service 'run.googleapis.com'",
	} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("err = %v\nwant it to contain %q", err, part)
		}
	}
	if total := clock.Now().Sub(time.Unix(1_800_000_000, 0)); total > DefaultQuotaRetryFor {
		t.Errorf("retried for %v, more than %v", total, DefaultQuotaRetryFor)
	}
}

func TestAllocationQuotaIsNotRetried(t *testing.T) {
	d, clock := simDriver(t, simrun.Config{MaxRunning: 1}, Quotas{})
	ctx := context.Background()
	if _, err := d.Launch(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	_, err := d.Launch(ctx, spec())
	if !errdefs.IsResourceExhausted(err) || len(clock.sleeps) != 0 {
		t.Fatalf("err = %v after sleeps %v, want a resource-exhausted error at once", err, clock.sleeps)
	}
	for _, part := range []string{"RunningJobExecutionsPerProjectRegion", "stop some containers", "'Running job executions per region'"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("err = %v\nwant it to contain %q", err, part)
		}
	}
}

func TestClientSideLimiterQueuesInsteadOfFailing(t *testing.T) {
	// gcpsim allows 600 RunJobs a minute; the driver keeps to 600 too, so the 601st waits for its token (0.1 s)
	// instead of being refused.
	d, clock := simDriver(t, simrun.Config{RunJobsPerMinute: 600}, Quotas{RunJobsPerMinute: 600})
	ctx := context.Background()
	if _, err := d.Launch(ctx, spec()); err != nil { // creates the job
		t.Fatal(err)
	}
	for range 599 {
		if err := d.q.wait(ctx, classRun); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := d.Launch(ctx, spec()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("the launch over the client-side budget waited %v, want ≈100ms", waited)
	}
	if len(clock.sleeps) != 0 {
		t.Errorf("retried (%v): the client-side limiter should have kept the driver within the quota", clock.sleeps)
	}
}

func TestBackgroundReadsLeaveAReserve(t *testing.T) {
	d, _ := simDriver(t, simrun.Config{}, Quotas{ReadsPerMinute: 8})
	ctx := Background(context.Background())
	n := 0
	for range 8 {
		_, err := d.Inspect(ctx, "projects/quota-test/locations/us-central1/jobs/j/executions/j-aaaaa")
		if IsDeferred(err) {
			break
		}
		n++
	}
	if n != 6 { // 8 tokens, of which a quarter (2) are left to foreground reads
		t.Errorf("background reads before deferral = %d, want 6", n)
	}
	// A foreground read still gets a token at once.
	fctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.q.wait(fctx, classRead); err != nil {
		t.Errorf("foreground read: %v", err)
	}
}

func TestConcurrentLaunchesShareOneJobCreation(t *testing.T) {
	// 3 writes a minute: twenty CreateJob calls would run out; one shared creation does not.
	d, clock := simDriver(t, simrun.Config{WritesPerMinute: 3}, Quotas{})
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = d.Launch(context.Background(), spec()) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("launch %d: %v", i, err)
		}
	}
	if len(clock.sleeps) != 0 {
		t.Errorf("retried %v: the launches spent the write quota", clock.sleeps)
	}
}
