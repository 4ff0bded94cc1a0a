package logs_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runsock/runsock/controlplane/internal/logs"
	simlogging "github.com/runsock/runsock/integration/gcpsim/logging"
)

// The reader runs against gcpsim's Cloud Logging service (the real gRPC service, in process), with an ingestion
// delay so completeness and follow are exercised as on Google.

const project = "logs-test"

type sim struct {
	svc  *simlogging.Service
	addr string
}

func newSim(t *testing.T, delay time.Duration, opts ...grpc.ServerOption) *sim {
	t.Helper()
	return newSimWith(t, simlogging.Config{IngestionDelay: delay}, opts...)
}

func newSimWith(t *testing.T, cfg simlogging.Config, opts ...grpc.ServerOption) *sim {
	t.Helper()
	svc := simlogging.New(cfg)
	g := grpc.NewServer(opts...)
	svc.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(func() { g.Stop(); svc.Close() })
	return &sim{svc: svc, addr: lis.Addr().String()}
}

func (s *sim) reader(t *testing.T) *logs.Reader {
	r, err := logs.New(context.Background(), logs.Config{Project: project, Endpoint: s.addr, Insecure: true, CompletionWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func entry(exec, logID, text string, ts time.Time) *loggingpb.LogEntry {
	return &loggingpb.LogEntry{
		LogName:   "projects/" + project + "/logs/" + url.PathEscape(logID),
		Resource:  &monitoredres.MonitoredResource{Type: "cloud_run_job", Labels: map[string]string{"job_name": "j", "location": "r", "project_id": project}},
		Timestamp: timestamppb.New(ts),
		Labels:    map[string]string{"run.googleapis.com/execution_name": exec},
		Payload:   &loggingpb.LogEntry_TextPayload{TextPayload: text},
	}
}

// run ingests out lines (prefix "err:" → stderr) then the exit entry, spaced by gap.
func (s *sim) run(exec string, out []string, gap time.Duration) {
	for _, l := range out {
		id := "run.googleapis.com/stdout"
		if strings.HasPrefix(l, "err:") {
			id = "run.googleapis.com/stderr"
		}
		s.svc.Ingest(entry(exec, id, l, time.Now()))
		time.Sleep(gap)
	}
	s.svc.Ingest(entry(exec, "run.googleapis.com/varlog/system", "Container called exit(0).", time.Now()))
}

func read(t *testing.T, r *logs.Reader, q logs.Query) (stdout, stderr []string) {
	t.Helper()
	for line, err := range r.Read(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		if line.Stream == logs.Stdout {
			stdout = append(stdout, string(line.Data))
		} else {
			stderr = append(stderr, string(line.Data))
		}
	}
	return stdout, stderr
}

func TestReadEndedWaitsForCompleteOutput(t *testing.T) {
	s := newSim(t, 300*time.Millisecond)
	r := s.reader(t)
	exec := fmt.Sprintf("j-%d", time.Now().UnixNano()%100000)
	s.run(exec, []string{"a", "err:b", "c"}, 0) // not yet visible: ingestion lag
	s.run("other-1", []string{"x"}, 0)
	full := "projects/" + project + "/locations/r/jobs/j/executions/" + exec
	tests := []struct {
		name                   string
		q                      logs.Query
		wantStdout, wantStderr string
	}{
		{"all", logs.Query{Executions: []string{full}, Stdout: true, Stderr: true, Tail: -1, Ended: true}, "a\nc\n", "err:b\n"},
		{"stdout only", logs.Query{Executions: []string{full}, Stdout: true, Tail: -1, Ended: true}, "a\nc\n", ""},
		{"tail 1", logs.Query{Executions: []string{full}, Stdout: true, Stderr: true, Tail: 1, Ended: true}, "c\n", ""},
		{"tail 0", logs.Query{Executions: []string{full}, Stdout: true, Stderr: true, Tail: 0, Ended: true}, "", ""},
		{"until the past", logs.Query{Executions: []string{full}, Stdout: true, Stderr: true, Tail: -1, Ended: true, Until: time.Now().Add(-time.Hour)}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs := read(t, r, tc.q)
			if strings.Join(out, "") != tc.wantStdout || strings.Join(errs, "") != tc.wantStderr {
				t.Errorf("stdout %q stderr %q, want %q %q", out, errs, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

func TestFollowDeliversEachLineOnceUntilExit(t *testing.T) {
	s := newSim(t, 100*time.Millisecond)
	r := s.reader(t)
	exec := fmt.Sprintf("f-%d", time.Now().UnixNano()%100000)
	s.svc.Ingest(entry(exec, "run.googleapis.com/stdout", "early", time.Now()))
	time.Sleep(200 * time.Millisecond) // "early" is history; the rest arrives while following
	done := make(chan struct{})
	go func() { s.run(exec, []string{"1", "err:2", "3"}, 50*time.Millisecond); close(done) }()
	start := time.Now()
	out, errs := read(t, r, logs.Query{Executions: []string{exec}, Stdout: true, Stderr: true, Tail: -1, Follow: true, Done: done})
	if strings.Join(out, "") != "early\n1\n3\n" || strings.Join(errs, "") != "err:2\n" {
		t.Errorf("followed stdout %q stderr %q", out, errs)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("follow took %v to end after the exit entry", d)
	}
}
