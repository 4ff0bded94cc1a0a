package dockerapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// A restart policy through the API and the Firestore store: the policy restarts the container after its exit
// (inspect's RestartCount), docker update answers Docker's shapes and errors, and a running container's new
// resources come with the next-start warning.
func TestRestartPolicyAndUpdate(t *testing.T) {
	e := setup(t)
	resp, body := e.do(t, "POST", "/v1.51/containers/create?name=pol", `{"Image":"alpine","HostConfig":{"RestartPolicy":{"Name":"always"}}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, "POST", "/v1.51/containers/pol/start", ""); resp.StatusCode != 204 {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	e.l.Finish("projects/p/locations/r/jobs/j/executions/e1", containers.Outcome{ExitCode: 2, FinishedAt: time.Now()})
	var got container.InspectResponse
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := e.do(t, "GET", "/v1.51/containers/pol/json", "")
		got = container.InspectResponse{}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.RestartCount == 1 && got.State.Status == container.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inspect: RestartCount %d status %s; want 1, running again", got.RestartCount, got.State.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !got.State.Running || got.State.Restarting || got.HostConfig.RestartPolicy.Name != "always" {
		t.Errorf("state %+v policy %+v", got.State, got.HostConfig.RestartPolicy)
	}

	tests := []struct {
		ref, body string
		code      int
		want      string
	}{
		{"pol", `{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}`, 200, `{"Warnings":[]}`},
		{"pol", `{"NanoCpus":2000000000}`, 200, containers.WarningResourcesNextStart},
		{"pol", `{"RestartPolicy":{"Name":"sometimes"}}`, 400, "invalid restart policy: unknown policy 'sometimes'"},
		{"pol", `{"RestartPolicy":{"Name":"always","MaximumRetryCount":1}}`, 400, "maximum retry count can only be used with 'on-failure'"},
		{"pol", `{"Memory":68719476736}`, 400, "Cloud Run"},
		{"pol", `{"RestartPolicy":`, 400, `"message"`},
		{"nope", `{"RestartPolicy":{"Name":"no"}}`, 404, "No such container: nope"},
	}
	for _, tt := range tests {
		resp, body := e.do(t, "POST", "/v1.51/containers/"+tt.ref+"/update", tt.body)
		if resp.StatusCode != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("update %s %s: %d %s; want %d with %q", tt.ref, tt.body, resp.StatusCode, body, tt.code, tt.want)
		}
	}
	if resp, body := e.do(t, "POST", "/v1.51/containers/pol/update", `{"RestartPolicy":{"Name":"no"}}`, "bob@example.com"); resp.StatusCode != 404 {
		t.Errorf("bob's update of alice's container: %d %s; want 404", resp.StatusCode, body)
	}
	_, body = e.do(t, "GET", "/v1.51/containers/pol/json", "")
	got = container.InspectResponse{}
	json.Unmarshal([]byte(body), &got)
	if p := got.HostConfig.RestartPolicy; p.Name != "on-failure" || p.MaximumRetryCount != 3 || got.HostConfig.NanoCPUs != 2e9 {
		t.Errorf("after the updates: policy %+v NanoCPUs %d; want on-failure:3 and 2 CPUs, the refused ones changing nothing", p, got.HostConfig.NanoCPUs)
	}
}
