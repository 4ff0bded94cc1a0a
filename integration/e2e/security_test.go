package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Code in a container can get the jobs' identity token from the metadata server (as on Cloud Run), and that
// identity holds roles/run.invoker on the control plane so agents can dial back. It must reach only the agent
// link: the Docker API refuses it, even though Google's front end lets it through.
func TestContainerIdentityCannotDriveTheDockerAPI(t *testing.T) {
	jobsSA := os.Getenv("RUNSOCK_JOBS_SERVICE_ACCOUNT")
	if jobsSA == "" {
		t.Skip("RUNSOCK_JOBS_SERVICE_ACCOUNT not in .dev/env")
	}
	identityURL := "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity?audience=" +
		url.QueryEscape(stack.controlPlane)
	r := docker(t, "run", "--rm", "alpine", "wget", "-qO-", "--header", "Metadata-Flavor: Google", identityURL)
	if r.code != 0 || strings.Count(r.stdout, ".") != 2 {
		t.Fatalf("a container could not get its identity token from the metadata server: %s", r)
	}
	token := strings.TrimSpace(r.stdout)

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
