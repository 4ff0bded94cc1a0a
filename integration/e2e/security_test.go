package e2e

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/runsock/runsock/linkproto"
)

// Code in a container can get the jobs' identity token from the metadata server (as on Cloud Run), and that
// identity holds roles/run.invoker on the control plane so agents can dial back. It must reach only the agent
// link: the Docker API refuses it, even though Google's front end lets it through.
func TestContainerIdentityCannotDriveTheDockerAPI(t *testing.T) {
	jobsSA := os.Getenv("RUNSOCK_JOBS_SERVICE_ACCOUNT")
	if jobsSA == "" {
		t.Skip("RUNSOCK_JOBS_SERVICE_ACCOUNT not in .dev/env")
	}
	token := containerIdentityToken(t)

	name := uniqueName("from-a-container")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1.50/containers/json?all=1", ""},
		{"POST", "/v1.50/containers/create?name=" + name, `{"Image":"alpine","Cmd":["true"]}`},
	} {
		req, err := http.NewRequest(tc.method, stack.controlPlane+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Serverless-Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := frontDoorClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "may not use the Docker API") {
			t.Errorf("%s %s with the jobs' identity (%s): %s %s; want 403 from the control plane", tc.method, tc.path, jobsSA, resp.Status, b)
		}
	}
}

// containerIdentityToken is what any code in any container can get: the jobs' identity token for the control plane's
// audience, from the task's metadata server.
func containerIdentityToken(t *testing.T) string {
	t.Helper()
	identityURL := "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=" +
		url.QueryEscape(stack.controlPlane)
	r := docker(t, "run", "--rm", "alpine", "wget", "-qO-", "--header", "Metadata-Flavor: Google", identityURL)
	if r.code != 0 || strings.Count(r.stdout, ".") != 2 {
		t.Fatalf("a container could not get its identity token from the metadata server: %s", r)
	}
	return strings.TrimSpace(r.stdout)
}

// A project viewer reads every execution's environment through the Cloud Run Admin API, and code in any container
// holds the jobs' identity. Together they must not open a link as another container's agent: what the environment
// carries is a one-time bootstrap that the container's own agent has spent, and the agent's key never leaves it.
func TestViewerCannotLinkWithAnExecutionsEnvironment(t *testing.T) {
	token := containerIdentityToken(t)
	name := uniqueName("victim")
	removeOnCleanup(t, name)
	id := strings.TrimSpace(mustDocker(t, "run", "-d", "--name", name, "alpine", "sleep", "300"))
	waitFor(t, 60*time.Second, "the victim's agent to link", func() bool {
		return docker(t, "exec", name, "true").code == 0
	})

	execution, env := executionEnvOf(t, id)
	// What the environment carries to authenticate the agent: the bootstrap, or the per-container secret that
	// runsock carried there before it (sent under its own metadata key).
	readable := cmp.Or(env[linkproto.EnvBootstrap], env["RUNSOCK_AGENT_SECRET"])
	if readable == "" {
		t.Fatalf("execution %s carries no agent credential (env %v): the test no longer reads what a viewer reads", execution, env)
	}
	short := execution[strings.LastIndexByte(execution, '/')+1:]
	for _, tc := range []struct {
		name string
		md   []string
	}{
		{"the bootstrap with a key of the viewer's own", []string{linkproto.MDKey, newKey(t), linkproto.MDBootstrap, readable}},
		{"the bootstrap as the key", []string{linkproto.MDKey, readable, linkproto.MDBootstrap, readable}},
		{"the bootstrap alone", []string{linkproto.MDBootstrap, readable}},
		{"the environment's secret as a per-container secret", []string{"x-runsock-agent-secret", readable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openLink(t, token, id, short, tc.md...)
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("a link with %s: %v; want Unauthenticated", tc.name, err)
			}
		})
	}
	// The real agent keeps its link: exec still works.
	if r := docker(t, "exec", name, "echo", "still mine"); r.code != 0 || strings.TrimSpace(r.stdout) != "still mine" {
		t.Fatalf("exec after the attempts: %s", r)
	}
}

// executionEnvOf finds container id's execution as a viewer would: every execution of every job, through the Cloud
// Run Admin API, and the environment its template carries.
func executionEnvOf(t *testing.T, id string) (string, map[string]string) {
	t.Helper()
	_, execs := runClients(t)
	parent := "projects/" + os.Getenv("RUNSOCK_PROJECT") + "/locations/" + os.Getenv("RUNSOCK_REGION") + "/jobs/-"
	it := execs.ListExecutions(context.Background(), &runpb.ListExecutionsRequest{Parent: parent})
	for {
		e, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("list executions: %v", err)
		}
		for _, c := range e.GetTemplate().GetContainers() {
			env := map[string]string{}
			for _, v := range c.GetEnv() {
				env[v.GetName()] = v.GetValue()
			}
			if env[linkproto.EnvContainerID] == id {
				return e.GetName(), env
			}
		}
	}
	t.Fatalf("no execution of container %s", id)
	return "", nil
}

func newKey(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// openLink dials the agent link as an agent would (through the control plane's front end, with the jobs' identity)
// and says hello on a control stream; it returns how the control plane answered.
func openLink(t *testing.T, token, id, execution string, md ...string) error {
	t.Helper()
	u, err := url.Parse(stack.controlPlane)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("passthrough:///"+u.Host,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: devCAPool(t), ServerName: u.Hostname()})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, append([]string{linkproto.MDServerlessAuth, "Bearer " + token,
		linkproto.MDContainerID, id, linkproto.MDExecution, execution}, md...)...)
	st, err := linkproto.Open(ctx, cc, linkproto.MethodControl)
	if err != nil {
		return err
	}
	hello := linkproto.Hello{AgentVersion: "viewer", StartedAt: time.Now()}
	if err := st.Send(&linkproto.Frame{Type: linkproto.FrameHello, Meta: linkproto.EncodeMeta(hello)}); err != nil && err != io.EOF {
		return err
	}
	var f linkproto.Frame
	return st.Recv(&f)
}

// Two `docker start` of one created container at once: one start wins, the other's execution is an orphan. The
// orphan's credentials must not lock out the winner's agent, and the container runs the winner's execution.
func TestConcurrentStartsOfOneContainer(t *testing.T) {
	const containers = 3
	names := make([]string, containers)
	for i := range names {
		names[i] = uniqueName("twice-started")
		removeOnCleanup(t, names[i])
		mustDocker(t, "create", "--name", names[i], "alpine", "sleep", "300")
	}
	var wg sync.WaitGroup
	results := make([][2]result, containers)
	for i := range names {
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i][j] = docker(t, "start", names[i])
			}()
		}
	}
	wg.Wait()
	for i, name := range names {
		for _, r := range results[i] {
			if r.code != 0 {
				t.Errorf("docker start %s: %s", name, r)
			}
		}
		waitFor(t, 60*time.Second, "exec in "+name, func() bool {
			r := docker(t, "exec", name, "echo", "ok")
			return r.code == 0 && strings.TrimSpace(r.stdout) == "ok"
		})
		if st := inspectField(t, name, "{{.State.Status}}"); st != "running" {
			t.Errorf("%s is %s after two starts", name, st)
		}
	}
}

// An admin sees everyone's containers but changes only what they name (issue 11, boundary 4): names, ID prefixes
// and prunes cover the admin's own containers; another user's container takes its full ID or the owner filter, and
// each change to it is an "admin" event its owner sees.
func TestAdminChangesOnlyWhatTheyName(t *testing.T) {
	adminEmail := os.Getenv("RUNSOCK_DEV_ADMIN")
	if adminEmail == "" {
		t.Skip("RUNSOCK_DEV_ADMIN not set (.dev/env)")
	}
	aliceEmail := uniqueName("alice") + "@example.com"
	alice, admin := startLocalProxy(t, aliceEmail), startLocalProxy(t, adminEmail)
	as := func(host string, args ...string) result { return dockerAs(t, host, "", args...) }
	since := strconv.FormatInt(time.Now().Add(-2*time.Second).Unix(), 10)

	kept, byID, byOwner := uniqueName("kept"), uniqueName("by-id"), uniqueName("by-owner")
	ids := map[string]string{}
	for _, n := range []string{kept, byID, byOwner} { // created, never started: every prune would take them
		if r := as(alice, "create", "--name", n, "alpine", "true"); r.code != 0 {
			t.Fatalf("alice: create %s: %s", n, r)
		}
		t.Cleanup(func() { as(alice, "rm", "-f", n) })
		ids[n] = strings.TrimSpace(as(alice, "inspect", "--format", "{{.Id}}", n).stdout)
	}

	for _, ref := range []string{kept, ids[kept][:12]} {
		if r := as(admin, "inspect", ref); r.code == 0 || !strings.Contains(r.stderr, "No such") {
			t.Errorf("admin: inspect %s (alice's, by name or prefix) found it: %s", ref, r)
		}
		if r := as(admin, "rm", ref); r.code == 0 {
			t.Errorf("admin: rm %s (alice's, by name or prefix) succeeded: %s", ref, r)
		}
	}
	ps := as(admin, "ps", "-a", "--no-trunc", "--filter", "owner="+aliceEmail, "--format", "{{.ID}}")
	if got := strings.Fields(ps.stdout); ps.code != 0 || len(got) != 3 || !strings.Contains(ps.stdout, ids[kept]) {
		t.Errorf("admin: ps -a --filter owner=%s: %s; want alice's three containers", aliceEmail, ps)
	}
	if r := as(alice, "ps", "-a", "--filter", "owner="+adminEmail); r.code == 0 || !strings.Contains(r.stderr, "only runsock admins") {
		t.Errorf("alice: ps --filter owner=<the admin>: %s; want a refusal", r)
	}

	if r := as(admin, "container", "prune", "-f"); r.code != 0 {
		t.Errorf("admin: container prune -f: %s", r)
	}
	if r := as(admin, "system", "prune", "-f"); r.code != 0 {
		t.Errorf("admin: system prune -f: %s", r)
	}
	for _, n := range []string{kept, byID, byOwner} {
		if r := as(alice, "inspect", n); r.code != 0 {
			t.Errorf("the admin's prune removed alice's %s: %s", n, r)
		}
	}
	if r := as(alice, "container", "prune", "-f", "--filter", "owner="+adminEmail); r.code == 0 || !strings.Contains(r.stderr, "only runsock admins") {
		t.Errorf("alice: container prune --filter owner=<the admin>: %s; want a refusal", r)
	}

	if r := as(admin, "rm", ids[byID]); r.code != 0 {
		t.Fatalf("admin: rm <alice's full ID>: %s", r)
	}
	if r := as(admin, "rename", ids[kept], kept+"-renamed"); r.code != 0 {
		t.Fatalf("admin: rename <alice's full ID>: %s", r)
	}
	if r := as(admin, "container", "prune", "-f", "--filter", "owner="+aliceEmail); r.code != 0 || !strings.Contains(r.stdout, ids[byOwner]) {
		t.Fatalf("admin: container prune --filter owner=%s: %s", aliceEmail, r)
	}

	// Alice sees, in her own event stream, which admin did what to her containers.
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	ev := as(alice, "events", "--since", since, "--until", until, "--filter", "event=admin",
		"--format", `{{.Actor.ID}} {{index .Actor.Attributes "admin"}} {{index .Actor.Attributes "action"}}`)
	for _, want := range []string{
		ids[byID] + " " + adminEmail + " remove",
		ids[kept] + " " + adminEmail + " rename",
		ids[kept] + " " + adminEmail + " prune",
		ids[byOwner] + " " + adminEmail + " prune",
	} {
		if !strings.Contains(ev.stdout, want) {
			t.Errorf("alice's events lack %q: %s", want, ev)
		}
	}
	if n := strings.Count(ev.stdout, "\n"); n != 4 {
		t.Errorf("alice's admin events: %d, want 4: %s", n, ev)
	}
}
