package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/runsock/runsock/executiondoc"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// The whole path a log sink's message takes: published to the Pub/Sub emulator, pushed by a push subscription to the
// function binary, recorded in Firestore. A malformed message is acknowledged, not redelivered forever.
func TestPushSubscriptionDeliversToFirestore(t *testing.T) {
	for _, k := range []string{"FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"} {
		if os.Getenv(k) == "" {
			t.Fatalf("%s is not set: run through scripts/test", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	project := "runsock-fn-" + randomHex(4)
	port := freePort(t)
	startFunction(t, project, port)

	ps, err := pubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	topic := fmt.Sprintf("projects/%s/topics/system-logs", project)
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	_, err = ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:       fmt.Sprintf("projects/%s/subscriptions/execution-events", project),
		Topic:      topic,
		PushConfig: &pubsubpb.PushConfig{PushEndpoint: fmt.Sprintf("http://127.0.0.1:%d/%s", port, topic)},
	})
	if err != nil {
		t.Fatal(err)
	}
	pub := ps.Publisher(topic)
	defer pub.Stop()
	entry := `{"insertId":"0123abcd","labels":{"run.googleapis.com/execution_name":"rs-fn-zzzzz","run.googleapis.com/task_index":"0"},"logName":"projects/` + project +
		`/logs/run.googleapis.com%2Fvarlog%2Fsystem","resource":{"labels":{"job_name":"rs-fn","location":"us-central1","project_id":"` + project +
		`"},"type":"cloud_run_job"},"textPayload":"Container called exit(3).","timestamp":"2026-11-28T12:00:00.5Z"}`
	for _, data := range []string{"not a log entry", entry} {
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(data)}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}

	fs, err := firestore.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for {
		snap, err := fs.Collection(executiondoc.Collection).Doc("rs-fn-zzzzz").Get(ctx)
		if err == nil {
			code, _ := snap.DataAt("systemOutcome.exitCode")
			kind, _ := snap.DataAt("systemOutcome.kind")
			if code != int64(3) || kind != "exit" {
				t.Fatalf("recorded %v %v, want exit 3", kind, code)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the outcome never reached Firestore: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startFunction(t *testing.T, project string, port int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "execution-events")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), fmt.Sprint("PORT=", port), "RUNSOCK_PROJECT="+project)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("function log:\n%s", logs.String())
		}
	})
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", fmt.Sprint("127.0.0.1:", port)); err == nil {
			c.Close()
			return
		}
		if i > 100 {
			t.Fatalf("function did not listen:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
