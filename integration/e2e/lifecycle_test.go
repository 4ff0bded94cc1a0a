package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed's Step 6, "Pull and run".
func TestPullAndRunFromArtifactRegistry(t *testing.T) {
	img := stack.arURL + "/alpine:latest"
	out := mustDocker(t, "pull", img)
	if !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("pull output has no digest line:\n%s", out)
	}
	out = mustDocker(t, "run", "--rm", img, "echo", "Hello from Cloud Run!")
	if out != "Hello from Cloud Run!\n" {
		t.Errorf("run printed %q, want the greeting", out)
	}
}

func TestRunKeepsStreamsApartAndExitCode(t *testing.T) {
	r := docker(t, "run", "--rm", "alpine", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("want exit 3, stdout \"out\\n\", stderr \"err\\n\"; got %s", r)
	}
}

func TestCreateStartLogsInspectStopRestartRemove(t *testing.T) {
	name := uniqueName("myjob")
	removeOnCleanup(t, name)
	id := strings.TrimSpace(mustDocker(t, "create", "--name", name, "alpine", "sh", "-c",
		`trap 'exit 0' TERM; echo started; while true; do sleep 1; done`))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("create printed %q, want a 64-hex ID", id)
	}
	if got := inspectField(t, name, "{{.State.Status}}"); got != "created" {
		t.Fatalf("state after create = %q, want created", got)
	}
	mustDocker(t, "start", name)
	waitFor(t, 60*time.Second, "started in logs", func() bool {
		return strings.Contains(docker(t, "logs", name).stdout, "started")
	})
	if got := inspectField(t, name, "{{.State.Running}}"); got != "true" {
		t.Fatalf("State.Running = %q while running", got)
	}
	ts := mustDocker(t, "logs", "--timestamps", name)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started\n`).MatchString(ts) {
		t.Errorf("logs --timestamps = %q, want RFC3339Nano prefix", ts)
	}
	mustDocker(t, "stop", "-t", "2", name)
	if got := inspectField(t, name, "{{.State.Status}}"); got != "exited" {
		t.Fatalf("state after stop = %q, want exited", got)
	}
	mustDocker(t, "restart", "-t", "2", name)
	if got := inspectField(t, name, "{{.State.Running}}"); got != "true" {
		t.Fatalf("State.Running after restart = %q", got)
	}
	if r := docker(t, "rm", name); r.code == 0 {
		t.Fatalf("rm of a running container succeeded: %s", r)
	}
	mustDocker(t, "rm", "-f", name)
	if r := docker(t, "inspect", name); r.code == 0 || !strings.Contains(r.stderr, "No such") {
		t.Fatalf("inspect after rm: %s", r)
	}
}

func TestLogsFollowEndsWithTheContainer(t *testing.T) {
	name := uniqueName("follow")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "alpine", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 1; done")
	r := docker(t, "logs", "-f", name)
	if r.code != 0 || r.stdout != "line1\nline2\nline3\n" {
		t.Fatalf("logs -f: %s", r)
	}
	if got := inspectField(t, name, "{{.State.ExitCode}}"); got != "0" {
		t.Errorf("exit code %s", got)
	}
}

func TestPsFiltersAndFormatAndPrune(t *testing.T) {
	label := uniqueName("suite")
	a, b := uniqueName("ps-a"), uniqueName("ps-b")
	removeOnCleanup(t, a)
	removeOnCleanup(t, b)
	mustDocker(t, "run", "--name", a, "--label", "suite="+label, "alpine", "true")
	mustDocker(t, "create", "--name", b, "--label", "suite="+label, "alpine", "true")
	out := mustDocker(t, "ps", "-a", "--filter", "label=suite="+label, "--format", "{{.Names}} {{.State}}")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := map[string]bool{a + " exited": true, b + " created": true}
	if len(lines) != 2 || !want[lines[0]] || !want[lines[1]] {
		t.Fatalf("ps -a --filter label: %q, want %v", lines, want)
	}
	out = mustDocker(t, "ps", "-a", "--filter", "name="+a, "--filter", "status=exited", "--format", "{{.Names}}")
	if strings.TrimSpace(out) != a {
		t.Fatalf("ps name+status filter = %q, want %s", out, a)
	}
	if out := mustDocker(t, "ps", "--filter", "label=suite="+label, "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("ps without -a lists stopped containers: %q", out)
	}
	mustDocker(t, "container", "prune", "-f", "--filter", "label=suite="+label)
	out = mustDocker(t, "ps", "-a", "--filter", "label=suite="+label, "--format", "{{.Names}}")
	if strings.TrimSpace(out) != b && strings.TrimSpace(out) != "" {
		t.Fatalf("after prune: %q", out)
	}
	if strings.Contains(out, a) {
		t.Fatalf("prune kept the exited container %s", a)
	}
}

func TestConcurrentRunsAndNameRace(t *testing.T) {
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = docker(t, "run", "--rm", "alpine", "echo", fmt.Sprint("run-", i))
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || r.stdout != fmt.Sprintf("run-%d\n", i) {
			t.Errorf("run %d: %s", i, r)
		}
	}

	name := uniqueName("race")
	removeOnCleanup(t, name)
	ok := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := docker(t, "create", "--name", name, "alpine", "true"); r.code == 0 {
				ok <- r.stdout
			} else if !strings.Contains(r.stderr, "is already in use") {
				t.Errorf("losing create said %q, want Docker's name conflict", r.stderr)
			}
		}()
	}
	wg.Wait()
	close(ok)
	if len(ok) != 1 {
		t.Fatalf("%d creates of one name succeeded, want exactly 1", len(ok))
	}
}

func TestBadInputGetsDockerErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "no-such-container-xyz"}, "No such"},
		{[]string{"start", "no-such-container-xyz"}, "No such container"},
		{[]string{"create", "--name", "bad/name", "alpine"}, "Invalid container name"},
		{[]string{"ps", "--filter", "nonsense=1"}, "invalid filter"},
		{[]string{"create", "--cpus", "3", "--memory", "64g", "alpine"}, "memory"},
		{[]string{"run", "--rm", "no-such-image-here-xyz"}, "not found: manifest unknown"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := docker(t, c.args...)
			if r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("want failure mentioning %q, got %s", c.want, r)
			}
		})
	}
}

func inspectField(t *testing.T, name, format string) string {
	t.Helper()
	return strings.TrimSpace(mustDocker(t, "inspect", "--format", format, name))
}

func inspectJSON(t *testing.T, name string) map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(mustDocker(t, "inspect", name)), &v); err != nil || len(v) != 1 {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return v[0]
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Docker users pass memory below Cloud Run's minimum for jobs (512 MiB): it runs, inspect shows what was asked and
// the runsock.granted.* labels what the job got.
func TestSmallMemoryIsRaisedToTheJobsMinimum(t *testing.T) {
	if r := docker(t, "run", "--rm", "-m", "64m", "alpine", "true"); r.code != 0 {
		t.Fatalf("run -m 64m: %s", r)
	}
	name := uniqueName("small-mem")
	removeOnCleanup(t, name)
	mustDocker(t, "create", "--name", name, "-m", "64m", "alpine", "true")
	if got := inspectField(t, name, `{{.HostConfig.Memory}} {{index .Config.Labels "runsock.granted.memory"}} {{index .Config.Labels "runsock.granted.cpu"}}`); got != "67108864 512Mi 1" {
		t.Errorf("inspect = %q, want HostConfig.Memory as asked and the granted labels: \"67108864 512Mi 1\"", got)
	}
}
