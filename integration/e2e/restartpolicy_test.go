package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The steps below run on runsock and on the reference engine (engines, reference_test.go), with these helpers.

// outOn runs the docker CLI on e, fails unless it exits 0, and returns its output trimmed.
func outOn(t *testing.T, e engine, args ...string) string {
	t.Helper()
	return strings.TrimSpace(e.must(t, args...))
}

func inspectOn(t *testing.T, e engine, name, format string) string {
	t.Helper()
	return outOn(t, e, "inspect", "--format", format, name)
}

// removeOn force-removes name on e when the test ends.
func removeOn(t *testing.T, e engine, name string) {
	t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
}

// waitStatus waits until name's State.Status on e is status.
func waitStatus(t *testing.T, e engine, name, status string, limit time.Duration) {
	t.Helper()
	waitFor(t, limit, e.name+": "+name+" "+status, func() bool { return inspectOn(t, e, name, "{{.State.Status}}") == status })
}

// actions are the container's event actions on e between since and now, oldest first.
func actions(t *testing.T, e engine, name string, since time.Time) []string {
	t.Helper()
	events := outOn(t, e, "events", "--since", strconv.FormatInt(since.Unix()-1, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "container="+name, "--filter", "type=container", "--format", "{{.Action}}")
	var actions []string
	for _, a := range strings.Fields(events) {
		// Docker emits "attach" when a client attaches; runsock does not yet (attach is issue 14's item 6), and it is
		// no part of a restart policy.
		if a != "attach" {
			actions = append(actions, a)
		}
	}
	return actions
}

// on-failure:2 of a command that exits 3, as Docker does it: two restarts, then exited with code 3; the events die →
// start in between; `docker run` without -d returns the first exit (its wait is for the next exit).
func TestRestartPolicyOnFailureAsDocker(t *testing.T) {
	want := map[string][]string{}
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := uniqueName("onfailure")
			removeOn(t, e, name)
			since := time.Now()
			r := e.docker(t, "run", "--name", name, "--restart", "on-failure:2", "alpine", "sh", "-c", "exit 3")
			if r.code != 3 {
				t.Fatalf("docker run: %s; want exit 3", r)
			}
			waitStatus(t, e, name, "exited", 90*time.Second)
			if got := inspectOn(t, e, name, "{{.RestartCount}} {{.State.ExitCode}} {{.State.Status}} {{.State.Restarting}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"); got != "2 3 exited false on-failure:2" {
				t.Errorf("inspect = %q; want \"2 3 exited false on-failure:2\"", got)
			}
			time.Sleep(time.Second) // no further start after the maximum
			if got := inspectOn(t, e, name, "{{.RestartCount}} {{.State.Status}}"); got != "2 exited" {
				t.Errorf("a second later: %q; want \"2 exited\"", got)
			}
			want[e.name] = actions(t, e, name, since)
		})
	}
	if ref, ok := want["docker"]; ok && strings.Join(ref, " ") != strings.Join(want["runsock"], " ") {
		t.Errorf("events: runsock %v, Docker %v", want["runsock"], ref)
	}
	if got := strings.Join(want["runsock"], " "); got != "create start die start die start die" {
		t.Errorf("runsock's events %q; want create, start, then die → start twice, die (no restart event: Docker emits none)", got)
	}
}

// always, then docker stop: the container stays stopped, its RestartCount no longer grows, as on Docker; docker wait
// returns at the next exit; docker start resets the count; docker kill ends the loop too.
func TestRestartPolicyAlwaysStopStaysStopped(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := uniqueName("always")
			removeOn(t, e, name)
			outOn(t, e, "run", "-d", "--name", name, "--restart", "always", "alpine", "sh", "-c", "sleep 2; exit 1")
			waitFor(t, 90*time.Second, e.name+": a restart", func() bool {
				n, _ := strconv.Atoi(inspectOn(t, e, name, "{{.RestartCount}}"))
				return n >= 1
			})
			// docker wait on a container whose policy restarts it returns at its next exit, as Docker's does.
			if got := outOn(t, e, "wait", name); got != "1" {
				t.Errorf("docker wait = %q; want the next exit's 1", got)
			}
			outOn(t, e, "stop", "-t", "1", name)
			if got := inspectOn(t, e, name, "{{.State.Status}} {{.State.Running}} {{.State.Restarting}}"); got != "exited false false" {
				t.Fatalf("after stop: %q; want \"exited false false\"", got)
			}
			count := inspectOn(t, e, name, "{{.RestartCount}}")
			time.Sleep(3 * time.Second) // past several backoffs
			if got := inspectOn(t, e, name, "{{.State.Status}} {{.RestartCount}}"); got != "exited "+count {
				t.Errorf("3 s after stop: %q; want \"exited %s\": the loop must have ended", got, count)
			}
			// docker start begins the policy afresh, as Docker's start resets RestartCount.
			outOn(t, e, "start", name)
			if got := inspectOn(t, e, name, "{{.RestartCount}}"); got != "0" {
				t.Errorf("RestartCount after docker start = %s; want 0", got)
			}
			// docker kill (SIGKILL) ends the loop too.
			outOn(t, e, "kill", name)
			time.Sleep(3 * time.Second)
			if got := inspectOn(t, e, name, "{{.State.Status}} {{.RestartCount}}"); got != "exited 0" {
				t.Errorf("3 s after kill: %q; want \"exited 0\"", got)
			}
		})
	}
}

// docker update --restart on a created container, then its start follows the new policy; an --rm container's policy
// cannot be updated; --rm with a restart policy is refused at create (the CLI refuses it itself, so the API is asked
// directly) — with Docker's words on both engines.
func TestUpdateRestartPolicyAsDocker(t *testing.T) {
	errs := map[string][]string{}
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := uniqueName("update")
			removeOn(t, e, name)
			outOn(t, e, "create", "--name", name, "alpine", "sh", "-c", "exit 5")
			outOn(t, e, "update", "--restart", "on-failure:1", name)
			if got := inspectOn(t, e, name, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.Status}}"); got != "on-failure:1 created" {
				t.Fatalf("after update: %q; want \"on-failure:1 created\"", got)
			}
			outOn(t, e, "start", name)
			waitStatus(t, e, name, "exited", 90*time.Second)
			time.Sleep(500 * time.Millisecond)
			if got := inspectOn(t, e, name, "{{.RestartCount}} {{.State.ExitCode}} {{.State.Status}}"); got != "1 5 exited" {
				t.Errorf("after start: %q; want \"1 5 exited\"", got)
			}

			rm := uniqueName("update-rm")
			removeOn(t, e, rm)
			outOn(t, e, "run", "-d", "--rm", "--name", rm, "alpine", "sleep", "30")
			r := e.docker(t, "update", "--restart", "always", rm)
			if r.code == 0 {
				t.Fatalf("update --restart always of an --rm container succeeded: %s", r)
			}
			errs[e.name] = append(errs[e.name], strings.TrimSpace(strings.ReplaceAll(r.stderr, containerID(t, e, rm), "ID")))

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := client.New(client.WithHost(e.host), client.WithAPIVersionNegotiation())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "alpine", Cmd: []string{"true"}},
				HostConfig: &container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}}})
			if err == nil {
				t.Fatal("create with --rm and a restart policy succeeded")
			}
			errs[e.name] = append(errs[e.name], err.Error())
			_, err = c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: "alpine", Cmd: []string{"true"}},
				HostConfig: &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}})
			if err == nil {
				t.Fatal("create with an unknown restart policy succeeded")
			}
			errs[e.name] = append(errs[e.name], err.Error())
		})
	}
	// The reference engine may be older than the API runsock speaks (Debian's docker.io is 20.10): for an unknown
	// policy it says "invalid restart policy 'sometimes'", Docker 25 and later (API 1.44+, what runsock follows)
	// "invalid restart policy: unknown policy 'sometimes'; use one of …". The other messages are the same in both.
	for i, msg := range errs["runsock"] {
		ref, ok := errs["docker"]
		switch {
		case !ok:
		case i >= len(ref):
			t.Errorf("error %d: runsock %q; Docker none", i, msg)
		case i == 2 && strings.Contains(ref[i], "invalid restart policy") && strings.Contains(ref[i], "'sometimes'"):
		case ref[i] != msg:
			t.Errorf("error %d: runsock %q; Docker %q", i, msg, ref[i])
		}
	}
	want := []string{"Error response from daemon: Cannot update container ID: Restart policy cannot be updated because AutoRemove is enabled for the container",
		"Error response from daemon: can't create 'AutoRemove' container with restart policy",
		"Error response from daemon: invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"}
	if got := strings.Join(errs["runsock"], "\n"); got != strings.Join(want, "\n") {
		t.Errorf("runsock's errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func containerID(t *testing.T, e engine, name string) string {
	t.Helper()
	return inspectOn(t, e, name, "{{.Id}}")
}

// docker update of a running container's CPU and memory: accepted, shown by inspect at once, and a warning says they
// apply from the next start (a Cloud Run execution's resources are fixed); the next start gets them.
func TestUpdateResourcesApplyAtNextStart(t *testing.T) {
	name := uniqueName("update-res")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "alpine", "sleep", "60")
	r := docker(t, "update", "--cpus", "2", "--memory", "1g", name)
	if r.code != 0 {
		t.Fatalf("docker update: %s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "apply from the container's next start") {
		t.Errorf("docker update printed %s; want the next-start warning", r)
	}
	if got := inspectField(t, name, `{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{index .Config.Labels "runsock.granted.cpu"}} {{index .Config.Labels "runsock.granted.memory"}}`); got != "2000000000 1073741824 2 1024Mi" {
		t.Errorf("inspect after update: %q", got)
	}
	if r := docker(t, "update", "--cpus", "9", name); r.code == 0 || !strings.Contains(r.stderr, "Cloud Run") {
		t.Errorf("update --cpus 9: %s; want a refusal naming Cloud Run's limit", r)
	}
}

// The restart loop is the control plane's durable state: a control plane killed while an always container keeps
// exiting comes back and goes on restarting it; docker stop then ends the loop for good.
func TestRestartPolicySurvivesControlPlaneRestart(t *testing.T) {
	name := uniqueName("always-cp")
	removeOnCleanup(t, name)
	mustDocker(t, "run", "-d", "--name", name, "--restart", "always", "alpine", "sh", "-c", "sleep 2; exit 1")
	count := func() int {
		n, _ := strconv.Atoi(inspectField(t, name, "{{.RestartCount}}"))
		return n
	}
	waitFor(t, 90*time.Second, "a first restart", func() bool { return count() >= 1 })
	restartControlPlane(t, 3*time.Second)
	before := count()
	// One more start proves the loop survived: either the new instance's Resume started a container that was
	// restarting, or it handled the exit of one that was running. The backoff has grown by now (it doubles up to a
	// minute while runs are short), so the wait is long.
	waitFor(t, 3*time.Minute, "a restart after the control plane came back", func() bool { return count() >= before+1 })
	mustDocker(t, "stop", "-t", "1", name)
	after := count()
	time.Sleep(3 * time.Second)
	if got := inspectField(t, name, "{{.State.Status}} {{.RestartCount}}"); got != "exited "+strconv.Itoa(after) {
		t.Errorf("after stop: %q; want exited with RestartCount %d", got, after)
	}
}
