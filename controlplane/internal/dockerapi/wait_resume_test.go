package dockerapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/proxyproto"
)

// framedWait issues a framed wait (resuming token when set). With cut it returns the token as soon as it arrives
// and drops the request, as Cloud Run's request timeout would; otherwise it returns the end frame's data.
func framedWait(t *testing.T, e *env, path, token string, cut bool) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url+path, nil)
	req.Header.Set(proxyproto.Resumable, "1")
	if token != "" {
		req.Header.Set(proxyproto.ResumeHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(proxyproto.Framed) != "1" {
		t.Fatalf("wait: %d %v", resp.StatusCode, resp.Header)
	}
	fr := proxyproto.NewReader(resp.Body)
	var tok string
	for {
		f, err := fr.Next()
		if err != nil {
			t.Fatalf("wait %s: %v (token %q)", path, err, tok)
		}
		switch f.Kind {
		case proxyproto.KindToken:
			tok = string(f.Data)
			if cut {
				return tok, ""
			}
		case proxyproto.KindEnd:
			return tok, string(f.Data)
		}
	}
}

func (e *env) awaitExited(t *testing.T, name string) {
	t.Helper()
	for range 100 {
		if _, body := e.do(t, "GET", "/containers/"+name+"/json", ""); strings.Contains(body, `"Status":"exited"`) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never exited", name)
}

// A wait that the request timeout cut before the exit, re-issued after it, answers that exit — next-exit does not
// wait for another one, and removed still knows the exit code once the container is gone.
func TestWaitResumedAfterTheExit(t *testing.T) {
	e := setup(t)
	e.create(t, "wr")
	next, _ := framedWait(t, e, "/v1.51/containers/wr/wait?condition=next-exit", "", true)
	removed, _ := framedWait(t, e, "/v1.51/containers/wr/wait?condition=removed", "", true)
	if !strings.Contains(next, "k=wait") || !strings.Contains(removed, "k=wait") {
		t.Fatalf("tokens %q %q", next, removed)
	}
	if resp, body := e.do(t, "POST", "/v1.51/containers/wr/start", ""); resp.StatusCode != 204 {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	e.l.Finish("projects/p/locations/r/jobs/j/executions/e1", containers.Outcome{ExitCode: 7, FinishedAt: time.Now()})
	e.awaitExited(t, "wr")

	if _, end := framedWait(t, e, "/v1.51/containers/wr/wait?condition=next-exit", next, false); !strings.Contains(end, `"StatusCode":7`) {
		t.Fatalf("resumed next-exit: %q", end)
	}
	// A resumed removal wait, before the removal, goes on waiting; after it, answers the exit code.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "POST", e.url+"/v1.51/containers/wr/wait?condition=removed", nil)
	req.Header.Set(proxyproto.Resumable, "1")
	req.Header.Set(proxyproto.ResumeHeader, removed)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		for n < 512 {
			m, err := resp.Body.Read(b[n:])
			n += m
			if err != nil {
				break
			}
		}
		if strings.Contains(string(b[:n]), "StatusCode") {
			t.Fatalf("removal wait answered before the removal: %q", b[:n])
		}
		resp.Body.Close()
	}
	cancel()
	if resp, body := e.do(t, "DELETE", "/v1.51/containers/wr", ""); resp.StatusCode != 204 {
		t.Fatalf("rm: %d %s", resp.StatusCode, body)
	}
	if _, end := framedWait(t, e, "/v1.51/containers/wr/wait?condition=removed", removed, false); !strings.Contains(end, `"StatusCode":7`) {
		t.Fatalf("resumed removed: %q", end)
	}
	// Another user cannot resume it.
	req, _ = http.NewRequest("POST", e.url+"/v1.51/containers/x/wait?condition=next-exit", nil)
	req.Header.Set(proxyproto.ResumeHeader, next)
	req.Header.Set("X-Test-User", "mallory@example.com")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's resume: %v %v", resp.StatusCode, err)
	}
}
