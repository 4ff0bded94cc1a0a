package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/logging/logadmin"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// cloudLoggingHas reports whether Cloud Logging (gcpsim, through the official client) holds a job stdout entry
// containing marker, written since since.
func cloudLoggingHas(t *testing.T, marker string, since time.Time) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	project := os.Getenv("RUNSOCK_PROJECT")
	c, err := logadmin.NewClient(ctx, project, option.WithEndpoint(os.Getenv("GCPSIM_GRPC")), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	filter := `resource.type="cloud_run_job" AND logName="projects/` + project + `/logs/run.googleapis.com%2Fstdout" AND timestamp>="` +
		since.UTC().Format(time.RFC3339Nano) + `"`
	it := c.Entries(ctx, logadmin.Filter(filter))
	for {
		e, err := it.Next()
		if err == iterator.Done {
			return false
		}
		if err != nil {
			t.Fatalf("Cloud Logging query: %v", err)
		}
		if s, ok := e.Payload.(string); ok && strings.Contains(s, marker) {
			return true
		}
	}
}

// `docker run --rm alpine echo hello` prints its line from the agent's live stream: when the CLI has printed it,
// Cloud Logging (2 s ingestion lag in gcpsim, seconds on Google) does not have it yet — and has it a little later,
// which shows the query would have found it.
func TestRunOutputComesFromTheAgent(t *testing.T) {
	if d := os.Getenv("GCPSIM_LOG_INGESTION_DELAY"); d == "" || d == "0s" {
		t.Skip("needs gcpsim's Cloud Logging ingestion delay (GCPSIM_LOG_INGESTION_DELAY)")
	}
	marker := uniqueName("hello")
	since := time.Now().Add(-time.Second)
	start := time.Now()
	r := docker(t, "run", "--rm", "alpine", "echo", marker)
	took := time.Since(start)
	if r.code != 0 || r.stdout != marker+"\n" {
		t.Fatalf("docker run --rm alpine echo: %s", r)
	}
	if cloudLoggingHas(t, marker, since) {
		t.Fatalf("Cloud Logging already had the line %v after the start: this run proves nothing about the agent", time.Since(start))
	}
	t.Logf("docker run --rm alpine echo printed its line in %v, before Cloud Logging had it", took)
	waitFor(t, 30*time.Second, "the line in Cloud Logging", func() bool { return cloudLoggingHas(t, marker, since) })

	// docker logs of a container that has just exited: complete at once, from the agent.
	name := uniqueName("logs-now")
	removeOnCleanup(t, name)
	marker2 := uniqueName("last-line")
	since = time.Now().Add(-time.Second)
	if r := docker(t, "run", "--name", name, "alpine", "sh", "-c", "echo first; echo "+marker2+"; exit 5"); r.code != 5 {
		t.Fatalf("docker run exit code: %s, want 5", r)
	}
	if out := mustDocker(t, "logs", name); out != "first\n"+marker2+"\n" {
		t.Fatalf("docker logs right after the exit = %q", out)
	}
	if cloudLoggingHas(t, marker2, since) {
		t.Fatalf("Cloud Logging already had the last line: the test proves nothing")
	}
	if got := inspectField(t, name, "{{.State.ExitCode}}"); got != "5" {
		t.Fatalf("exit code %s, want 5", got)
	}
}
