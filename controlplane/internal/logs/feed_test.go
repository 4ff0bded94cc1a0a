package logs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/runsock/runsock/controlplane/internal/logs"
)

// TestFollowersShareOnePollPerExecution: twenty readers following one execution cost one shared poll, not twenty,
// and no tail session (Cloud Logging allows 60 entries.list a minute and 10 tail sessions per project).
func TestFollowersShareOnePollPerExecution(t *testing.T) {
	var lists, tails atomic.Int64
	s := newSim(t, 100*time.Millisecond,
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if strings.HasSuffix(info.FullMethod, "/ListLogEntries") {
				lists.Add(1)
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			tails.Add(1)
			return h(srv, ss)
		}))
	r := s.reader(t)

	const readers = 20
	exec := fmt.Sprintf("shared-%d", time.Now().UnixNano()%100000)
	done := make(chan struct{})
	var wg sync.WaitGroup
	outs := make([]string, readers)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _ := read(t, r, logs.Query{Executions: []string{exec}, Stdout: true, Tail: -1, Follow: true, Done: done})
			outs[i] = strings.Join(out, "")
		}()
	}
	time.Sleep(300 * time.Millisecond) // all subscribed and their history read
	history := lists.Load()
	start := time.Now()
	s.run(exec, []string{"1", "2", "3"}, time.Second) // about 3 s of output, then the exit entry
	close(done)
	wg.Wait()
	took := time.Since(start)
	for i, out := range outs {
		if out != "1\n2\n3\n" {
			t.Errorf("reader %d followed %q", i, out)
		}
	}
	polls := lists.Load() - history - readers // each reader lists once more after the exit
	t.Logf("figures: %d followers over %v: %d entries.list for history, %d for polls, %d tail sessions",
		readers, took.Round(100*time.Millisecond), history, polls, tails.Load())
	if tails.Load() != 0 {
		t.Errorf("%d tail sessions opened, want none", tails.Load())
	}
	if max := int64(took/time.Second) + 3; polls > max {
		t.Errorf("%d polls in %v for one execution, want one shared poll a second (≤ %d)", polls, took, max)
	}
}
