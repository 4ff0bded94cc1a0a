package logs_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"

	"github.com/runsock/runsock/controlplane/internal/logs"
	simlogging "github.com/runsock/runsock/integration/gcpsim/logging"
)

// A history longer than a page is read page by page, and a tail longer than a page is the exact end of it, also
// where the tail begins among lines of one instant (Cloud Run stamps lines to the microsecond; a burst shares one).
func TestLongHistoryAndTailsArePaged(t *testing.T) {
	s := newSim(t, -1)
	r := s.reader(t)
	exec := fmt.Sprintf("long-%d", time.Now().UnixNano()%100000)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const lines = 2500
	var batch []*loggingpb.LogEntry
	for i := range lines {
		id := "run.googleapis.com/stdout"
		if i%10 == 0 {
			id = "run.googleapis.com/stderr"
		}
		// Seven lines to an instant, so every tail below begins inside one.
		batch = append(batch, entry(exec, id, strconv.Itoa(i), base.Add(time.Duration(i/7)*time.Millisecond)))
	}
	s.svc.Ingest(batch...)
	s.svc.Ingest(entry(exec, "run.googleapis.com/varlog/system", "Container called exit(0).", base.Add(time.Minute)))

	readAll := func(tail int) []string {
		var out []string
		for l, err := range r.Read(context.Background(), logs.Query{Executions: []string{exec}, Stdout: true, Stderr: true, Tail: tail, Ended: true}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(l.Data))
		}
		return out
	}
	all := readAll(-1)
	if len(all) != lines {
		t.Fatalf("read %d lines of %d", len(all), lines)
	}
	seen := map[string]bool{}
	for _, l := range all {
		if seen[l] {
			t.Fatalf("line %q twice", l)
		}
		seen[l] = true
	}
	for _, tail := range []int{1, 999, 1000, 1001, 1003, 1500, 2499, 2500, 5000} {
		t.Run("tail "+strconv.Itoa(tail), func(t *testing.T) {
			got := readAll(tail)
			want := all[max(len(all)-tail, 0):]
			if !slices.Equal(got, want) {
				t.Errorf("tail %d: %d lines, %q … %q; want %d lines, %q … %q", tail, len(got), first(got), lastOf(got), len(want), first(want), lastOf(want))
			}
		})
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// A follower slower than its feed is not queued for without bound: it falls behind, catches up by listing from its
// last line, and still gets every line once, in order.
func TestSlowFollowerCatchesUp(t *testing.T) {
	s := newSimWith(t, simlogging.Config{IngestionDelay: 50 * time.Millisecond, ListsPerMinute: -1})
	r, err := logs.New(context.Background(), logs.Config{Project: project, Endpoint: s.addr, Insecure: true,
		CompletionWait: 5 * time.Second, ListsPerMinute: 6000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	exec := fmt.Sprintf("slow-%d", time.Now().UnixNano()%100000)
	const lines = 12_000 // three times what a follower may have queued
	done, release := make(chan struct{}), make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond) // the follower has subscribed
		start := time.Now()
		var batch []*loggingpb.LogEntry
		for i := range lines {
			batch = append(batch, entry(exec, "run.googleapis.com/stdout", strconv.Itoa(i), start.Add(time.Duration(i)*time.Microsecond)))
		}
		s.svc.Ingest(batch...)
		time.Sleep(3 * time.Second) // the feed has polled, and overflowed the blocked follower's queue
		close(release)
		time.Sleep(500 * time.Millisecond)
		s.svc.Ingest(entry(exec, "run.googleapis.com/varlog/system", "Container called exit(0).", time.Now()))
		close(done)
	}()
	n := 0
	for l, err := range r.Read(context.Background(), logs.Query{Executions: []string{exec}, Stdout: true, Tail: -1, Follow: true, Done: done}) {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			<-release
		}
		if got, want := string(l.Data), strconv.Itoa(n)+"\n"; got != want {
			t.Fatalf("line %d is %q, want %q", n, got, want)
		}
		n++
	}
	if n != lines {
		t.Fatalf("followed %d lines of %d", n, lines)
	}
}
