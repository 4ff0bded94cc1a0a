package dockerapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// As Docker fills WaitResponse.Error from the container's State.Error, a wait ended by a task timeout says so: the
// wait that was open when it ended, and a wait on the stopped container afterwards.
func TestWaitCarriesTheExitsError(t *testing.T) {
	e := setup(t)
	if resp, body := e.do(t, "POST", "/containers/create?name=slow", `{"Image":"alpine"}`); resp.StatusCode != 201 {
		t.Fatal(body)
	}
	if resp, body := e.do(t, "POST", "/containers/slow/start", ""); resp.StatusCode != 204 {
		t.Fatalf("start: %s", body)
	}
	waitDone := e.waitInBackground(t, "slow", "not-running")
	const why = "task timed out: the configured task timeout was reached"
	e.l.Finish("projects/p/locations/r/jobs/j/executions/e1", containers.Outcome{ExitCode: 137, Signal: 9, Error: why, FinishedAt: time.Now()})
	select {
	case body := <-waitDone:
		if !strings.Contains(body, `"StatusCode":137`) || !strings.Contains(body, `"Error":{"Message":"`+why+`"}`) {
			t.Fatalf("wait: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not end after the timeout")
	}
	if _, body := e.do(t, "POST", "/containers/slow/wait", ""); !strings.Contains(body, `"Error":{"Message":"`+why+`"}`) {
		t.Fatalf("wait after the exit: %s", body)
	}
}
