package e2e

import (
	"bufio"
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
// which shows the query would have found it. Each check is tried a few times: on a loaded machine one run can take
// longer than the ingestion lag, and such a run proves nothing either way.
func TestRunOutputComesFromTheAgent(t *testing.T) {
	if d := os.Getenv("GCPSIM_LOG_INGESTION_DELAY"); d == "" || d == "0s" {
		t.Skip("needs gcpsim's Cloud Logging ingestion delay (GCPSIM_LOG_INGESTION_DELAY)")
	}
	const attempts = 3
	var marker string
	since := time.Now().Add(-time.Second)
	for i := 1; ; i++ {
		marker = uniqueName("hello")
		took, ahead := runPrintsBeforeCloudLogging(t, marker, since)
		if ahead {
			t.Logf("docker run --rm alpine printed its line %v after the start, before Cloud Logging had it", took)
			break
		}
		if i == attempts {
			t.Fatalf("in %d runs Cloud Logging always had the line before the CLI printed it (last: %v): the output does not come from the agent", attempts, took)
		}
		t.Logf("attempt %d: Cloud Logging had the line already (%v after the start); trying again", i, took)
	}
	waitFor(t, 30*time.Second, "the line in Cloud Logging", func() bool { return cloudLoggingHas(t, marker, since) })

	// docker logs of a container that has just exited: complete at once, from the agent.
	for i := 1; ; i++ {
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
		if got := inspectField(t, name, "{{.State.ExitCode}}"); got != "5" {
			t.Fatalf("exit code %s, want 5", got)
		}
		if !cloudLoggingHas(t, marker2, since) {
			break
		}
		if i == attempts {
			t.Fatalf("in %d runs Cloud Logging always had the last line before docker logs answered: the test proves nothing", attempts)
		}
		t.Logf("attempt %d: Cloud Logging already had the last line; trying again", i)
	}
}

// runPrintsBeforeCloudLogging runs a container that prints marker and lingers a little, and reports how long after
// the start the CLI printed the line and whether Cloud Logging lacked it at that moment.
func runPrintsBeforeCloudLogging(t *testing.T, marker string, since time.Time) (time.Duration, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := dockerCmd(ctx, t, stack.dockerHost, "run", "--rm", "alpine", "sh", "-c", "echo "+marker+"; sleep 2")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	took := time.Since(start)
	ahead := err == nil && !cloudLoggingHas(t, marker, since)
	if err != nil || line != marker+"\n" {
		t.Fatalf("docker run --rm printed %q, %v; want %q", line, err, marker)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker run --rm: %v", err)
	}
	return took, ahead
}
