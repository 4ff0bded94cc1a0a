package logging

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"cloud.google.com/go/logging/logadmin"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cloudlogging "cloud.google.com/go/logging"
	logging "cloud.google.com/go/logging/apiv2"
)

const testProject = "logging-test"

// startService serves a Service on 127.0.0.1:0 and returns it with client options for the official clients.
func startService(t *testing.T, cfg Config) (*Service, []option.ClientOption) {
	t.Helper()
	svc := New(cfg)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go g.Serve(lis)
	t.Cleanup(func() {
		g.Stop()
		svc.Close()
	})
	return svc, []option.ClientOption{
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

func adminClient(t *testing.T, opts []option.ClientOption) *logadmin.Client {
	t.Helper()
	c, err := logadmin.NewClient(context.Background(), testProject, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runEntry builds an entry the way the Cloud Run task runner reports a line.
func runEntry(job, execution, stream, text string, ts time.Time) *loggingpb.LogEntry {
	return &loggingpb.LogEntry{
		LogName: "projects/" + testProject + "/logs/run.googleapis.com%2F" + stream,
		Resource: &monitoredres.MonitoredResource{Type: "cloud_run_job", Labels: map[string]string{
			"job_name": job, "location": "us-central1", "project_id": testProject,
		}},
		Timestamp: timestamppb.New(ts),
		Labels: map[string]string{
			"run.googleapis.com/execution_name": execution,
			"run.googleapis.com/task_index":     "0",
		},
		Payload: &loggingpb.LogEntry_TextPayload{TextPayload: text},
	}
}

func texts(t *testing.T, it *logadmin.EntryIterator) []string {
	t.Helper()
	var out []string
	for {
		e, err := it.Next()
		if err == iterator.Done {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, e.Payload.(string))
	}
}

func execFilter(exec string) string {
	return fmt.Sprintf(`resource.type = "cloud_run_job" AND labels."run.googleapis.com/execution_name" = %q`, exec)
}

func TestListByExecutionAndStream(t *testing.T) {
	svc, opts := startService(t, Config{IngestionDelay: -1})
	c := adminClient(t, opts)
	ctx := context.Background()

	// Equal timestamps keep ingestion order; two executions interleave.
	ts := time.Now().Add(-time.Minute)
	svc.Ingest(
		runEntry("job", "job-aaaaa", "stdout", "a1", ts),
		runEntry("job", "job-bbbbb", "stdout", "b1", ts),
		runEntry("job", "job-aaaaa", "stderr", "a-err", ts),
		runEntry("job", "job-aaaaa", "stdout", "a2", ts),
		runEntry("job", "job-aaaaa", "stdout", "a3", ts.Add(time.Millisecond)),
		runEntry("job", "job-bbbbb", "stdout", "b2", ts.Add(time.Millisecond)),
	)
	waitVisible(t, svc, 6)

	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"execution a", execFilter("job-aaaaa"), []string{"a1", "a-err", "a2", "a3"}},
		{"execution b", execFilter("job-bbbbb"), []string{"b1", "b2"}},
		{"a stdout", execFilter("job-aaaaa") + ` AND logName = "projects/` + testProject + `/logs/run.googleapis.com%2Fstdout"`, []string{"a1", "a2", "a3"}},
		{"a stderr", execFilter("job-aaaaa") + ` logName:"stderr"`, []string{"a-err"}},
		{"job, gcloud style", `resource.type = cloud_run_job AND resource.labels.job_name = job AND resource.labels.location = us-central1 AND severity >= DEFAULT`, []string{"a1", "b1", "a-err", "a2", "a3", "b2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := texts(t, c.Entries(ctx, logadmin.Filter(tt.filter)))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func waitVisible(t *testing.T, svc *Service, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(svc.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d entries visible after 5s", len(svc.snapshot()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIngestionDelay(t *testing.T) {
	const delay = 400 * time.Millisecond
	svc, opts := startService(t, Config{IngestionDelay: delay})
	c := adminClient(t, opts)
	ctx := context.Background()

	e := runEntry("job", "job-delay", "stdout", "late", time.Now())
	start := time.Now()
	svc.Ingest(e)
	if got := texts(t, c.Entries(ctx, logadmin.Filter(execFilter("job-delay")))); len(got) != 0 {
		t.Fatalf("entry visible right after Ingest: %v", got)
	}
	for {
		got := texts(t, c.Entries(ctx, logadmin.Filter(execFilter("job-delay"))))
		if len(got) == 1 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("entry never became visible")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("entry visible after %v, before the %v ingestion delay", elapsed, delay)
	}
	if len(e.InsertId) != 24 || !strings.HasPrefix(e.InsertId, fmt.Sprintf("%08x", e.Timestamp.GetSeconds())) {
		t.Errorf("insertId %q: want 24 hex chars starting with the timestamp's unix seconds", e.InsertId)
	}
	if e.ReceiveTimestamp == nil {
		t.Error("receiveTimestamp not set")
	}
}

func TestOrderingAndPaging(t *testing.T) {
	svc, opts := startService(t, Config{IngestionDelay: -1})
	c := adminClient(t, opts)
	ctx := context.Background()

	base := time.Now().Add(-time.Hour)
	// Ingested out of timestamp order: the list must still be by timestamp.
	for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
		svc.Ingest(runEntry("job", "job-page", "stdout", fmt.Sprint(i), base.Add(time.Duration(i)*time.Second)))
	}
	waitVisible(t, svc, 7)

	if got := texts(t, c.Entries(ctx, logadmin.Filter(execFilter("job-page")))); strings.Join(got, "") != "0123456" {
		t.Errorf("ascending: got %v", got)
	}
	if got := texts(t, c.Entries(ctx, logadmin.Filter(execFilter("job-page")), logadmin.NewestFirst())); strings.Join(got, "") != "6543210" {
		t.Errorf("descending: got %v", got)
	}

	// Pages of 3, by page token.
	var pages [][]string
	it := c.Entries(ctx, logadmin.Filter(execFilter("job-page")), logadmin.NewestFirst(), logadmin.PageSize(3))
	pager := iterator.NewPager(it, 3, "")
	for {
		var entries []*cloudlogging.Entry
		next, err := pager.NextPage(&entries)
		if err != nil {
			t.Fatal(err)
		}
		var p []string
		for _, e := range entries {
			p = append(p, e.Payload.(string))
		}
		pages = append(pages, p)
		if next == "" {
			break
		}
	}
	if got := fmt.Sprint(pages); got != "[[6 5 4] [3 2 1] [0]]" {
		t.Errorf("pages = %s, want [[6 5 4] [3 2 1] [0]]", got)
	}
}

func TestInvalidRequests(t *testing.T) {
	_, opts := startService(t, Config{IngestionDelay: -1})
	c := adminClient(t, opts)
	ctx := context.Background()
	tests := []struct {
		name string
		opts []logadmin.EntriesOption
	}{
		{"bare word", []logadmin.EntriesOption{logadmin.Filter(`hello world`)}},
		{"unknown field", []logadmin.EntriesOption{logadmin.Filter(`foo.bar = 1`)}},
		{"bad severity", []logadmin.EntriesOption{logadmin.Filter(`severity >= LOUD`)}},
		{"unbalanced", []logadmin.EntriesOption{logadmin.Filter(`(severity >= INFO`)}},
		{"page size", []logadmin.EntriesOption{logadmin.PageSize(1001)}},
		{"filter too long", []logadmin.EntriesOption{logadmin.Filter(`textPayload:"` + strings.Repeat("x", MaxFilterLen) + `"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Entries(ctx, tt.opts...).Next()
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		})
	}
}

func TestTailLogEntries(t *testing.T) {
	svc, opts := startService(t, Config{IngestionDelay: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gc, err := logging.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()

	svc.Ingest(runEntry("job", "job-tail", "stdout", "before", time.Now()))
	waitVisible(t, svc, 1)

	stream, err := gc.TailLogEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&loggingpb.TailLogEntriesRequest{
		ResourceNames: []string{"projects/" + testProject},
		Filter:        execFilter("job-tail") + ` logName:"stdout"`,
		BufferWindow:  durationpb.New(100 * time.Millisecond),
	}); err != nil {
		t.Fatal(err)
	}
	// Keep ingesting until the tail is registered and delivers; only entries after the start may arrive.
	var got []string
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			now := time.Now()
			svc.Ingest(
				runEntry("job", "job-tail", "stdout", fmt.Sprint("line", i), now),
				runEntry("job", "job-tail", "stderr", "err", now),
				runEntry("job", "job-other", "stdout", "other", now),
			)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for len(got) < 3 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEntries() {
			got = append(got, e.GetTextPayload())
		}
	}
	for _, g := range got {
		if !strings.HasPrefix(g, "line") {
			t.Errorf("tail delivered %q; want only new stdout lines of job-tail", g)
		}
	}

	// A bad filter is refused on the stream.
	bad, err := gc.TailLogEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad.Send(&loggingpb.TailLogEntriesRequest{ResourceNames: []string{"projects/" + testProject}, Filter: "nonsense"})
	if _, err := bad.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad tail filter: err = %v, want InvalidArgument", err)
	}
}

func TestWriteWithOfficialLogger(t *testing.T) {
	_, opts := startService(t, Config{IngestionDelay: -1})
	ctx := context.Background()
	lc, err := cloudlogging.NewClient(ctx, "projects/"+testProject, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	lg := lc.Logger("app", cloudlogging.CommonResource(&monitoredres.MonitoredResource{Type: "global"}))
	for i := range 3 {
		if err := lg.LogSync(ctx, cloudlogging.Entry{Payload: fmt.Sprint("written ", i), Severity: cloudlogging.Error}); err != nil {
			t.Fatal(err)
		}
	}
	c := adminClient(t, opts)
	got := texts(t, c.Entries(ctx, logadmin.Filter(`logName = "projects/`+testProject+`/logs/app" AND severity >= ERROR`)))
	if strings.Join(got, ",") != "written 0,written 1,written 2" {
		t.Errorf("got %v", got)
	}
	var logs []string
	it := c.Logs(ctx)
	for {
		l, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	// The client also writes its own diagnostic-log entry, as it does against Google.
	if !slices.Contains(logs, "app") {
		t.Errorf("Logs = %v, want app among them", logs)
	}

	// An entry without a log name or resource is refused.
	gc, err := logging.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	_, err = gc.WriteLogEntries(ctx, &loggingpb.WriteLogEntriesRequest{Entries: []*loggingpb.LogEntry{{Payload: &loggingpb.LogEntry_TextPayload{TextPayload: "x"}}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("entry without log name: err = %v, want InvalidArgument", err)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	svc, opts := startService(t, Config{IngestionDelay: -1, MaxEntries: 100})
	c := adminClient(t, opts)
	ts := time.Now().Add(-time.Minute)
	for i := range 300 {
		svc.Ingest(runEntry("job", "job-bound", "stdout", fmt.Sprint(i), ts.Add(time.Duration(i)*time.Millisecond)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := texts(t, c.Entries(context.Background(), logadmin.Filter(execFilter("job-bound")), logadmin.NewestFirst()))
		if len(got) > 0 && got[0] == "299" {
			if len(got) > 125 || got[len(got)-1] == "0" {
				t.Errorf("kept %d entries (oldest %s), want at most 125 of the newest", len(got), got[len(got)-1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("newest entry never visible: %v", got[:min(len(got), 3)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	svc := New(Config{IngestionDelay: time.Hour})
	svc.Ingest(runEntry("job", "job-close", "stdout", "pending", time.Now()))
	svc.Close()
	svc.Close() // idempotent
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before New, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
