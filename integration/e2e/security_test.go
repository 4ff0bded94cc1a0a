package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
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
