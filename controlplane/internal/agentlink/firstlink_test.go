package agentlink

import (
	"context"
	"strings"
	"testing"
	"time"
)

// An exec right after a start, before the run's agent has linked (on Google, seconds to minutes), waits for the
// agent rather than failing after ConnectWait; a run that has ended is not waited for.
func TestExecWaitsForTheFirstLinkOfAStartedRun(t *testing.T) {
	e := newEnv(t, true, nil)
	e.hub.opts.ConnectWait = 300 * time.Millisecond // set before any session: the Hub reads it per session
	id := uniqueID(t)
	secret := e.container(id, "")
	type result struct {
		code int
		out  string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var out strings.Builder
		code, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"echo", "first"}}, Streams{Stdout: &out}, nil)
		done <- result{code, out.String(), err}
	}()
	time.Sleep(5 * e.hub.opts.ConnectWait)
	select {
	case r := <-done:
		t.Fatalf("the exec ended before the agent linked: %+v", r)
	default:
	}
	e.startAgent(id, secret, nil, "sleep", "60")
	select {
	case r := <-done:
		if r.err != nil || r.code != 0 || r.out != "first\n" {
			t.Fatalf("exec after the first link: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the exec never ran")
	}

	ended := uniqueID(t)
	e.container(ended, "")
	e.creds.mu.Lock()
	cr := e.creds.m[ended]
	cr.Ended = true
	e.creds.m[ended] = cr
	e.creds.mu.Unlock()
	began := time.Now()
	if _, err := e.hub.Exec(context.Background(), ended, ExecSpec{Cmd: []string{"true"}}, Streams{}, nil); err == nil {
		t.Fatal("an exec in an ended run succeeded")
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("an exec in an ended run waited %v", d)
	}
}
