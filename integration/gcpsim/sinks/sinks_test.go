package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runsock/runsock/integration/gcpsim/logging"
)

const (
	emulator = "127.0.0.1:18085"
	project  = "runsock-dev"
)

func TestParseFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    Sink
		wantErr bool
	}{
		{
			in:   `exec-events=logName:"run.googleapis.com%2Fvarlog%2Fsystem" AND resource.type=cloud_run_job=>pubsub.googleapis.com/projects/p/topics/run-events`,
			want: Sink{Name: "exec-events", Filter: `logName:"run.googleapis.com%2Fvarlog%2Fsystem" AND resource.type=cloud_run_job`, Destination: "pubsub.googleapis.com/projects/p/topics/run-events"},
		},
		{in: `all==>pubsub.googleapis.com/projects/p/topics/everything`, want: Sink{Name: "all", Destination: "pubsub.googleapis.com/projects/p/topics/everything"}},
		{in: `no-destination=severity>=ERROR`, wantErr: true},
		{in: `bad-dest=severity>=ERROR=>projects/p/topics/topic`, wantErr: true},
		{in: `bad-filter=hello world=>pubsub.googleapis.com/projects/p/topics/topic`, wantErr: true},
		{in: `-bad-name=x=y=>pubsub.googleapis.com/projects/p/topics/topic`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFlag(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (got.Name != tt.want.Name || got.Filter != tt.want.Filter || got.Destination != tt.want.Destination) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"sinks":[{"name":"a","filter":"severity>=ERROR","destination":"pubsub.googleapis.com/projects/p/topics/topic1"},
		{"name":"b","destination":"pubsub.googleapis.com/projects/p/topics/topic2","disabled":true}]}`), 0o644)
	list, err := LoadFile(good)
	if err != nil || len(list) != 2 || list[0].Name != "a" || !list[1].Disabled {
		t.Fatalf("LoadFile = %+v, %v", list, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"name":"a","filter":"nonsense","destination":"pubsub.googleapis.com/projects/p/topics/topic1"}]`), 0o644)
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), "invalid filter") {
		t.Errorf("LoadFile(bad) err = %v, want an invalid filter error", err)
	}
}

func systemEntry(exec, text string, sev ltype.LogSeverity, ts time.Time) *loggingpb.LogEntry {
	return &loggingpb.LogEntry{
		LogName: "projects/" + project + "/logs/run.googleapis.com%2Fvarlog%2Fsystem",
		Resource: &monitoredres.MonitoredResource{Type: "cloud_run_job", Labels: map[string]string{
			"job_name": "job", "location": "us-central1", "project_id": project,
		}},
		Timestamp: timestamppb.New(ts),
		Severity:  sev,
		Labels:    map[string]string{"run.googleapis.com/execution_name": exec, "run.googleapis.com/task_index": "0"},
		Payload:   &loggingpb.LogEntry_TextPayload{TextPayload: text},
	}
}

// newTopic creates a topic and a subscription on it in the Pub/Sub emulator.
func newTopic(t *testing.T, client *pubsub.Client) (topic, sub string) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("sinks-test-%d", time.Now().UnixNano())
	topic = "projects/" + project + "/topics/" + id
	sub = "projects/" + project + "/subscriptions/" + id
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	t.Cleanup(func() {
		client.TopicAdminClient.DeleteTopic(context.Background(), &pubsubpb.DeleteTopicRequest{Topic: topic})
	})
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic}); err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	t.Cleanup(func() {
		client.SubscriptionAdminClient.DeleteSubscription(context.Background(), &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
	})
	return topic, sub
}

func TestSinkDeliversSystemEntry(t *testing.T) {
	t.Setenv("PUBSUB_EMULATOR_HOST", emulator)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() }) // after the topic's cleanups, which use it
	topic, sub := newTopic(t, client)

	sink, err := ParseFlag(`exec-events=logName:"run.googleapis.com%2Fvarlog%2Fsystem" AND textPayload=~"^Container called exit"=>pubsub.googleapis.com/` + topic)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := New(ctx, Config{Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	svc := logging.New(logging.Config{IngestionDelay: 50 * time.Millisecond, Publisher: pub})
	ts := time.Date(2026, 1, 15, 15, 48, 6, 716662046, time.UTC)
	svc.Ingest(
		systemEntry("job-nomatch", "Container terminated on signal 9.", ltype.LogSeverity_WARNING, ts),
		systemEntry("job-x7k2p", "Container called exit(3).", ltype.LogSeverity_DEFAULT, ts),
	)

	var (
		mu   sync.Mutex
		msgs []*pubsub.Message
	)
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	go func() {
		// After the first message arrives, wait a little longer for any that should not have been sent.
		for rctx.Err() == nil {
			mu.Lock()
			n := len(msgs)
			mu.Unlock()
			if n > 0 {
				time.Sleep(time.Second)
				rcancel()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	err = client.Subscriber(sub).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	rcancel()
	svc.Close()
	pub.Close()
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want exactly the exit(3) entry", len(msgs))
	}
	m := msgs[0]
	if got := m.Attributes[TimestampAttribute]; got != "2026-01-15T15:48:06.716662046Z" {
		t.Errorf("timestamp attribute = %q", got)
	}
	var got map[string]any
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatalf("data is not JSON: %v\n%s", err, m.Data)
	}
	want := map[string]any{
		"logName":     "projects/" + project + "/logs/run.googleapis.com%2Fvarlog%2Fsystem",
		"textPayload": "Container called exit(3).",
		"timestamp":   "2026-01-15T15:48:06.716662046Z",
		"resource":    map[string]any{"type": "cloud_run_job", "labels": map[string]any{"job_name": "job", "location": "us-central1", "project_id": project}},
		"labels":      map[string]any{"run.googleapis.com/execution_name": "job-x7k2p", "run.googleapis.com/task_index": "0"},
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("data[%q] = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["severity"]; ok {
		t.Errorf("severity present for a DEFAULT entry: %s", m.Data)
	}
	if id, _ := got["insertId"].(string); len(id) != 24 {
		t.Errorf("insertId = %q, want 24 hex characters", id)
	}
	if _, ok := got["receiveTimestamp"]; !ok {
		t.Errorf("receiveTimestamp missing: %s", m.Data)
	}
}

func TestMissingTopicIsLogged(t *testing.T) {
	t.Setenv("PUBSUB_EMULATOR_HOST", emulator)
	ctx := context.Background()
	var buf syncBuffer
	sink, err := ParseFlag(fmt.Sprintf("lost=severity>=WARNING=>pubsub.googleapis.com/projects/%s/topics/missing-%d", project, time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := New(ctx, Config{Sinks: []Sink{sink}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pub.Publish([]*loggingpb.LogEntry{systemEntry("job-lost", "Container terminated on signal 9.", ltype.LogSeverity_WARNING, time.Now())})
	pub.Close()
	if !strings.Contains(buf.String(), "destination topic does not exist") {
		t.Errorf("log = %q, want a warning about the missing topic", buf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
