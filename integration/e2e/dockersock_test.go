package e2e

import (
	"strings"
	"testing"
	"time"
)

// The Docker socket mounted into a container (-v /var/run/docker.sock:/var/run/docker.sock) gives the code inside its
// owner's Docker API, as CI runners and testcontainers-in-CI use it: the docker CLI copied in runs a sibling and sees
// its output, lists and execs through it; the sibling is the owner's (its events are theirs); another user's
// container is "No such container" through it; nothing of the agent's secrets shows; a container without the mount
// has no socket.
func TestDockerSocketMountedIntoAContainer(t *testing.T) {
	rs := engine{"runsock", stack.dockerHost}
	name := rs.run(t, "dsock", "-v", "/var/run/docker.sock:/var/run/docker.sock", "alpine", "sleep", "600")
	rs.must(t, "exec", name, "mkdir", "-p", "/usr/local/bin") // the test image's alpine has none
	began := time.Now()
	rs.must(t, "cp", "/usr/local/bin/docker", name+":/usr/local/bin/docker")
	t.Logf("docker cp of the docker CLI (%s): %v", "/usr/local/bin/docker", time.Since(began).Round(time.Millisecond))

	label := uniqueName("dsock-sibling")
	since := time.Now().Add(-time.Second).Unix()
	began = time.Now()
	r := rs.docker(t, "exec", name, "docker", "run", "--rm", "--label", "dsock.test="+label, "alpine", "echo", "sibling")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "sibling" {
		t.Fatalf("docker run inside: %s", r)
	}
	t.Logf("docker run --rm alpine echo sibling through the socket: %v", time.Since(began).Round(time.Millisecond))
	events := rs.must(t, "events", "--since", itoa(since), "--until", itoa(time.Now().Add(time.Second).Unix()),
		"--filter", "label=dsock.test="+label, "--format", "{{.Type}} {{.Action}}")
	for _, want := range []string{"container create", "container start", "container die", "container destroy"} {
		if !strings.Contains(events, want) {
			t.Errorf("the owner's events for the sibling lack %q:\n%s", want, events)
		}
	}

	// docker ps and docker exec through the socket: the owner's containers, this one among them.
	if ps := rs.must(t, "exec", name, "docker", "ps", "--format", "{{.Names}}"); !strings.Contains(ps, name) {
		t.Errorf("docker ps through the socket lists %q, want %s among them", ps, name)
	}
	if out := rs.must(t, "exec", name, "docker", "exec", name, "sh", "-c", "echo inner-$((40+2))"); strings.TrimSpace(out) != "inner-42" {
		t.Errorf("docker exec through the socket printed %q", out)
	}

	// Nothing secret through it: the container's own inspect carries no agent credential.
	inspect := rs.must(t, "exec", name, "docker", "inspect", name)
	if strings.Contains(inspect, "RUNSOCK_") || strings.Contains(strings.ToLower(inspect), "bootstrap") {
		t.Errorf("inspect through the socket shows the agent's environment:\n%s", inspect)
	}
	if env := rs.must(t, "exec", name, "env"); strings.Contains(env, "RUNSOCK_") {
		t.Errorf("the container's processes see the agent's environment:\n%s", env)
	}

	// Another user's container is "No such container" through the socket too, and not listed.
	bob := startLocalProxy(t, uniqueName("bob")+"@example.com")
	bobs := uniqueName("dsock-bob")
	if r := dockerAs(t, bob, "", "create", "--name", bobs, "alpine", "true"); r.code != 0 {
		t.Fatalf("bob's create: %s", r)
	}
	t.Cleanup(func() { dockerAs(t, bob, "", "rm", "-f", bobs) })
	bobID := strings.TrimSpace(dockerAs(t, bob, "", "inspect", "--format", "{{.Id}}", bobs).stdout)
	if r := rs.docker(t, "exec", name, "docker", "inspect", bobID); r.code == 0 || !strings.Contains(r.stderr, "No such") {
		t.Errorf("bob's container through alice's socket: %s", r)
	}
	if ps := rs.must(t, "exec", name, "docker", "ps", "-a", "--format", "{{.Names}}"); strings.Contains(ps, bobs) {
		t.Errorf("docker ps -a through the socket lists bob's container: %q", ps)
	}
}

// Inspect shows the socket's mount as Docker does, and without the mount a container has no socket, on runsock as on
// Docker.
func TestDockerSocketMountAsDockerShowsIt(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := uniqueName("dsock-inspect")
			t.Cleanup(func() { e.docker(t, "rm", "-f", name) })
			e.must(t, "create", "--name", name, "-v", "/var/run/docker.sock:/x/docker.sock:ro", "alpine", "true")
			want := `[{"Type":"bind","Source":"/var/run/docker.sock","Destination":"/x/docker.sock","Mode":"ro","RW":false,"Propagation":"rprivate"}]`
			if got := strings.TrimSpace(e.must(t, "inspect", "--format", "{{json .Mounts}}", name)); got != want {
				t.Errorf("Mounts = %s\nwant %s", got, want)
			}
			out := e.must(t, "run", "--rm", "alpine", "sh", "-c", "ls /var/run/docker.sock /run/docker.sock 2>&1; true")
			if strings.Count(out, "No such file") != 2 {
				t.Errorf("a container without the mount: %q, want no socket at either path", out)
			}
		})
	}
}

// Any destination and a read-only bind still give the API, on runsock as on Docker: --mount of /run/docker.sock at
// /tmp/d.sock, readonly, reached with DOCKER_HOST.
func TestDockerSocketReadOnlyElsewhere(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			name := e.run(t, "dsock-ro", "--mount", "type=bind,src=/run/docker.sock,dst=/tmp/d.sock,readonly", "alpine", "sleep", "600")
			e.must(t, "cp", "/usr/local/bin/docker", name+":/tmp/docker")
			r := e.docker(t, "exec", "-e", "DOCKER_HOST=unix:///tmp/d.sock", name, "/tmp/docker", "inspect", "--format", "{{.Name}}", name)
			if r.code != 0 || strings.TrimSpace(r.stdout) != "/"+name {
				t.Errorf("inspect of itself through a read-only socket at /tmp/d.sock: %s", r)
			}
		})
	}
}
