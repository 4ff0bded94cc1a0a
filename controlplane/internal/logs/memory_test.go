package logs_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runsock/runsock/controlplane/internal/heappeak"
	"github.com/runsock/runsock/controlplane/internal/logs"
)

// BenchmarkReadHugeHistory reads the whole output of a container that printed 64 MiB, 256 MiB and 1 GiB (1 KiB lines), and
// the last half of it (`docker logs --tail`), from a Cloud Logging whose pages are made on demand (so that only the
// reader's memory can grow), and reports the peak of the heap in use while reading (peak-heap-MiB, sampled every
// 5 ms; the baseline before reading, after a GC, is base-heap-MiB). Memory is flat when the peak does not grow with
// the size. Run: go test -run '^$' -bench ReadHugeHistory -benchtime 1x ./controlplane/internal/logs/
//
// The reader is given an unlimited entries.list quota here: under Cloud Logging's 60 requests a minute, 1 GiB of
// 1 KiB lines (1,000 pages of 1,000) takes at least 17 minutes to list, and twice that for a tail.
func BenchmarkReadHugeHistory(b *testing.B) {
	for _, size := range []int64{64 << 20, 256 << 20, 1 << 30} {
		for _, half := range []bool{false, true} {
			name := fmt.Sprintf("%dMiB", size>>20)
			if half {
				name += "/tail=half"
			}
			b.Run(name, func(b *testing.B) {
				lines := int(size / generatedLine)
				src := newGenerated(b, lines)
				r, err := logs.New(context.Background(), logs.Config{Project: project, Endpoint: src.addr, Insecure: true,
					ListsPerMinute: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { r.Close() })
				q := logs.Query{Executions: []string{generatedExec}, Stdout: true, Stderr: true, Tail: -1, Ended: true}
				if half {
					q.Tail = lines / 2
				}
				runtime.GC()
				base := heappeak.InUse()
				peak := heappeak.Watch()
				b.ResetTimer()
				var n, bytes int
				for range b.N {
					n, bytes = 0, 0
					for l, err := range r.Read(context.Background(), q) {
						if err != nil {
							b.Fatal(err)
						}
						n++
						bytes += len(l.Data)
					}
				}
				b.StopTimer()
				top := peak()
				if want := lines; half {
					want = lines / 2
					if n != want {
						b.Fatalf("read %d lines, want %d", n, want)
					}
				} else if n != want {
					b.Fatalf("read %d lines, want %d", n, want)
				}
				b.SetBytes(int64(bytes))
				b.ReportMetric(float64(top)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(base)/(1<<20), "base-heap-MiB")
				b.ReportMetric(float64(src.lists.Load())/float64(b.N), "lists/op")
			})
		}
	}
}

// generatedLine is the size of a generated line, newline included.
const (
	generatedLine = 1 << 10
	generatedExec = "huge-1"
)

// generated is a Cloud Logging holding one execution's output of n lines, line i stamped base+i µs, made a page at a
// time from the request (page token = the next line's index), then the exit entry. It understands the filters the
// reader sends: output or system entries, a timestamp lower bound, ascending or descending.
type generated struct {
	loggingpb.UnimplementedLoggingServiceV2Server
	n     int
	base  time.Time
	text  string
	addr  string
	lists atomic.Int64
}

func newGenerated(tb testing.TB, n int) *generated {
	g := &generated{n: n, base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), text: strings.Repeat("x", generatedLine-1)}
	srv := grpc.NewServer()
	loggingpb.RegisterLoggingServiceV2Server(srv, g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(lis)
	tb.Cleanup(srv.Stop)
	g.addr = lis.Addr().String()
	return g
}

var sinceFilter = regexp.MustCompile(`timestamp>="([^"]+)"`)

func (g *generated) ListLogEntries(_ context.Context, req *loggingpb.ListLogEntriesRequest) (*loggingpb.ListLogEntriesResponse, error) {
	g.lists.Add(1)
	f := req.GetFilter()
	if strings.Contains(f, "receiveTimestamp") { // a feed's poll: nothing new
		return &loggingpb.ListLogEntriesResponse{}, nil
	}
	if !strings.Contains(f, url.PathEscape("run.googleapis.com/stdout")) { // the exit entry is all there is of the system log
		return &loggingpb.ListLogEntriesResponse{Entries: []*loggingpb.LogEntry{g.entry(g.n, "run.googleapis.com/varlog/system", "Container called exit(0).")}}, nil
	}
	from := 0
	if m := sinceFilter.FindStringSubmatch(f); m != nil {
		t, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			return nil, err
		}
		from = max(int(t.Sub(g.base)/time.Microsecond), 0)
	}
	desc := strings.Contains(req.GetOrderBy(), "desc")
	i := from // the next line's index (ascending) or one past it (descending)
	if desc {
		i = g.n
	}
	if tok := req.GetPageToken(); tok != "" {
		i, _ = strconv.Atoi(tok)
	}
	resp := &loggingpb.ListLogEntriesResponse{}
	for len(resp.Entries) < int(req.GetPageSize()) {
		if desc {
			if i <= from {
				return resp, nil
			}
			i--
		} else {
			if i >= g.n {
				return resp, nil
			}
			i++
		}
		line := i - 1
		if desc {
			line = i
		}
		resp.Entries = append(resp.Entries, g.entry(line, "run.googleapis.com/stdout", g.text))
	}
	if (desc && i > from) || (!desc && i < g.n) {
		resp.NextPageToken = strconv.Itoa(i)
	}
	return resp, nil
}

func (g *generated) entry(i int, logID, text string) *loggingpb.LogEntry {
	ts := g.base.Add(time.Duration(i) * time.Microsecond)
	return &loggingpb.LogEntry{
		LogName:          "projects/" + project + "/logs/" + url.PathEscape(logID),
		Resource:         &monitoredres.MonitoredResource{Type: "cloud_run_job"},
		Timestamp:        timestamppb.New(ts),
		ReceiveTimestamp: timestamppb.New(ts),
		InsertId:         strconv.Itoa(i),
		Labels:           map[string]string{"run.googleapis.com/execution_name": generatedExec},
		Payload:          &loggingpb.LogEntry_TextPayload{TextPayload: text},
	}
}
