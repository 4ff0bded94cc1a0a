package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Docker Compose v2 CLI plugin, built by scripts/compose-plugin; scripts/test passes its path in
// RUNSOCK_COMPOSE_PLUGIN (in the background: the test waits for the file). The tests install it in a client config of their own (cli-plugins/docker-compose) so the
// docker CLI they run has `docker compose`.
var composePlugin struct {
	once sync.Once
	dir  string // a DOCKER_CONFIG with cli-plugins/docker-compose
	err  error
}

// composeConfigDir returns a docker client config dir with the compose plugin installed, carrying the config the
// other e2e tests use (config.json, e.g. an identity header). It skips the test when RUNSOCK_COMPOSE_PLUGIN is
// unset (scripts/test always sets it).
func composeConfigDir(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RUNSOCK_COMPOSE_PLUGIN")
	if bin == "" {
		t.Skip("RUNSOCK_COMPOSE_PLUGIN not set: build the plugin with scripts/compose-plugin and pass its path (scripts/test does)")
	}
	composePlugin.once.Do(func() {
		// scripts/test builds it in the background while the other tests run; this test runs last.
		deadline := time.Now().Add(10 * time.Minute)
		for {
			if _, err := os.Stat(bin); err == nil {
				break
			} else if _, ferr := os.Stat(bin + ".failed"); ferr == nil {
				composePlugin.err = fmt.Errorf("scripts/compose-plugin failed to build %s (its output is in scripts/test's)", bin)
				return
			} else if time.Now().After(deadline) {
				composePlugin.err = fmt.Errorf("%s did not appear within 10 minutes (scripts/compose-plugin builds it): %w", bin, err)
				return
			}
			time.Sleep(time.Second)
		}
		dir, err := os.MkdirTemp("", "runsock-e2e-compose-config")
		if err != nil {
			composePlugin.err = err
			return
		}
		if err := os.MkdirAll(filepath.Join(dir, "cli-plugins"), 0o755); err != nil {
			composePlugin.err = err
			return
		}
		if err := os.Symlink(bin, filepath.Join(dir, "cli-plugins", "docker-compose")); err != nil {
			composePlugin.err = err
			return
		}
		if b, err := os.ReadFile(filepath.Join(dockerConfigDir(t), "config.json")); err == nil {
			composePlugin.err = os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
		}
		composePlugin.dir = dir
	})
	if composePlugin.err != nil {
		t.Fatalf("install the compose plugin: %v", composePlugin.err)
	}
	return composePlugin.dir
}

// composeProject is one compose project (testdata/compose/compose.yaml) under a name of its own on one engine.
type composeProject struct {
	e    engine
	name string
	file string
}

// compose runs `docker compose -p NAME -f FILE args...` against the project's engine, with a three-minute limit.
func (p composeProject) compose(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := dockerCmd(ctx, t, p.e.host, append([]string{"compose", "-p", p.name, "-f", p.file}, args...)...)
	// The last value of a repeated variable wins (os/exec): this config has the plugin.
	cmd.Env = append(cmd.Env, "DOCKER_CONFIG="+composeConfigDir(t))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: docker compose %s: %v", p.e.name, strings.Join(args, " "), err)
	}
	return r
}

func (p composeProject) must(t *testing.T, args ...string) string {
	t.Helper()
	r := p.compose(t, args...)
	if r.code != 0 {
		t.Fatalf("%s: docker compose %s: %s", p.e.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// composePS is the part of `compose ps --format json` (one object a line) compose users parse, with the project
// name taken out of container names so two engines' projects compare.
type composePS struct {
	Name, Service, State, Health, Command string
	ExitCode                              int
	Publishers                            []composePublisher
}

type composePublisher struct {
	URL                       string
	TargetPort, PublishedPort int
	Protocol                  string
}

func (p composeProject) ps(t *testing.T) []composePS {
	t.Helper()
	var all []composePS
	for _, line := range strings.Split(strings.TrimSpace(p.must(t, "ps", "--all", "--format", "json")), "\n") {
		var s composePS
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("%s: compose ps line %q: %v", p.e.name, line, err)
		}
		s.Name = strings.Replace(s.Name, p.name, "PROJECT", 1)
		if len(s.Publishers) == 0 {
			s.Publishers = nil // none: [] or null
		}
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b composePS) int { return strings.Compare(a.Service, b.Service) })
	return all
}

// TestComposeProject runs one compose project — a server with a healthcheck, a client that waits for it to be
// healthy and reaches it by service name on a user-defined network, a named volume both use — through up, ps, logs,
// exec and down -v on runsock and on the reference Docker Engine, and compares what compose shows.
//
// It is a parallel test so that it runs after every other test of the package, giving scripts/test's background
// build of the plugin time to finish; no other top-level test is parallel, so it still runs alone.
func TestComposeProject(t *testing.T) {
	t.Parallel()
	composeConfigDir(t)
	file, err := filepath.Abs(filepath.Join("testdata", "compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	states := map[string][]composePS{}
	var mu sync.Mutex
	t.Run("engines", func(t *testing.T) {
		for _, e := range engines(t) {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				p := composeProject{e: e, name: uniqueName("compose"), file: file}
				t.Cleanup(func() { p.compose(t, "down", "-v", "-t", "1") })

				if r := p.compose(t, "up", "-d"); r.code != 0 {
					t.Fatalf("%s: compose up -d: %s", e.name, r)
				}
				ps := p.ps(t)
				mu.Lock()
				states[e.name] = ps
				mu.Unlock()

				// The client reached the server by its service name, and read what the server wrote to the volume.
				waitFor(t, 60*time.Second, "the client's output", func() bool {
					return strings.Contains(p.must(t, "logs", "client"), "client read: ")
				})
				logs := p.must(t, "logs", "--no-color", "client")
				for _, want := range []string{"client got: served by the server", "client read: served by the server"} {
					if !strings.Contains(logs, want) {
						t.Errorf("%s: compose logs client lacks %q:\n%s", e.name, want, logs)
					}
				}
				// The server reads what the client wrote to the volume.
				if got := p.must(t, "exec", "-T", "server", "cat", "/www/client.txt"); got != "written by the client\n" {
					t.Errorf("%s: compose exec server cat /www/client.txt = %q", e.name, got)
				}

				p.must(t, "down", "-v", "-t", "5")
				for _, kind := range []string{"container", "network", "volume"} {
					args := []string{kind, "ls", "-q", "--filter", "label=com.docker.compose.project=" + p.name}
					if kind == "container" {
						args = append(args, "--all")
					}
					if out := strings.TrimSpace(e.must(t, args...)); out != "" {
						t.Errorf("%s: after compose down -v, docker %s: %q", e.name, strings.Join(args, " "), out)
					}
				}
				if out := e.must(t, "volume", "ls", "--format", "{{.Name}}"); strings.Contains(out, p.name) {
					t.Errorf("%s: after compose down -v, volume ls still has the project's volume:\n%s", e.name, out)
				}
				if out := e.must(t, "network", "ls", "--format", "{{.Name}}"); strings.Contains(out, p.name) {
					t.Errorf("%s: after compose down -v, network ls still has the project's network:\n%s", e.name, out)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	// compose ps shows the same services in the same states on both.
	want := []composePS{{Name: "PROJECT-client-1", Service: "client", State: "running"},
		{Name: "PROJECT-server-1", Service: "server", State: "running", Health: "healthy"}}
	for name, got := range states {
		got = slices.Clone(got)
		for i := range got {
			got[i].Command = "" // compared between the engines below
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s: compose ps = %s, want %s", name, gotJSON, wantJSON)
		}
	}
	for i, s := range states["runsock"] {
		if d := states["docker"]; i < len(d) && s.Command != d[i].Command {
			t.Errorf("compose ps %s command: runsock %q, docker %q", s.Service, s.Command, d[i].Command)
		}
	}
}

// TestNetworkPeerReachableFromFirstInstruction: a container started on a user-defined network reaches a running
// peer by name from its command's first instruction, as compose's depends_on expects (on Docker the embedded DNS
// answers at once; on runsock the agent starts the command once its peers are applied).
func TestNetworkPeerReachableFromFirstInstruction(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			net := uniqueName("firstnet")
			e.must(t, "network", "create", net)
			t.Cleanup(func() { e.docker(t, "network", "rm", net) })
			srv := e.run(t, "firstsrv", "--network", net, "alpine", "sh", "-c", "mkdir /w && echo pong > /w/x && exec httpd -f -p 8080 -h /w")
			waitFor(t, 30*time.Second, srv+" serving", func() bool {
				return e.docker(t, "exec", srv, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/x").stdout == "pong\n"
			})
			time.Sleep(time.Second) // runsock's agent reports a new listening port within a scan (250 ms) and a push
			cli := uniqueName("firstcli")
			t.Cleanup(func() { e.docker(t, "rm", "-f", cli) })
			if r := e.docker(t, "run", "--name", cli, "--network", net, "alpine", "wget", "-q", "-O", "-", "http://"+srv+":8080/x"); r.code != 0 || r.stdout != "pong\n" {
				t.Errorf("%s: a new container's first request to %s: %s", e.name, srv, r)
			}
		})
	}
}
