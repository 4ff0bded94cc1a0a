package dockerapi

import (
	"bytes"
	"context"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/identity"
	"github.com/runsock/runsock/proxyproto"
)

// resumeBackend is a FAKE container backend serving one container's output as the live-log source does: lines
// with sequences 1..len(lines), started where opts.From (or the tail) says.
type resumeBackend struct {
	ContainerBackend // only the methods below are called
	lines            []string
	gotLogs          containers.LogOptions
	gotWait          *containers.WaitCursor
	waitCode         int
}

func (b *resumeBackend) Logs(ctx context.Context, p identity.Principal, ref string, opts containers.LogOptions) (*containers.Container, iter.Seq2[containers.LogLine, error], error) {
	b.gotLogs = opts
	c := &containers.Container{ID: "c1full"}
	return c, func(yield func(containers.LogLine, error) bool) {
		start := containers.LogPosition{Seq: 1}
		if opts.Tail > 0 {
			start.Seq = uint64(len(b.lines) - opts.Tail + 1)
		}
		if opts.From != nil {
			start = *opts.From
		}
		opts.Started(start)
		for seq := start.Seq; seq <= uint64(len(b.lines)); seq++ {
			data := []byte(b.lines[seq-1])
			if seq == start.Seq {
				data = data[start.Offset:]
			}
			if !yield(containers.LogLine{Stream: 1, Seq: seq, Data: data}, nil) {
				return
			}
		}
	}, nil
}

func (b *resumeBackend) Wait(ctx context.Context, p identity.Principal, ref string, cond container.WaitCondition, resume *containers.WaitCursor) (<-chan containers.WaitResult, containers.WaitCursor, error) {
	b.gotWait = resume
	ch := make(chan containers.WaitResult, 1)
	ch <- containers.WaitResult{ExitCode: b.waitCode}
	cur := containers.WaitCursor{ID: "c1full", Since: time.Unix(0, 42)}
	if resume != nil {
		cur = *resume
	}
	return ch, cur, nil
}

func serve(t *testing.T, h *Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	r = r.WithContext(identity.WithPrincipal(r.Context(), identity.Principal{Email: "alice@example.com"}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func readFrames(t *testing.T, body []byte) []proxyproto.Frame {
	t.Helper()
	var out []proxyproto.Frame
	fr := proxyproto.NewReader(bytes.NewReader(body))
	for {
		f, err := fr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("frames: %v", err)
		}
		f.Data = append([]byte(nil), f.Data...)
		out = append(out, f)
	}
}

func TestLogsFramedAndResumed(t *testing.T) {
	b := &resumeBackend{lines: []string{"one\n", "two\n", "three\n"}}
	h := New(Options{Containers: b})
	framed := map[string]string{proxyproto.Resumable: "1"}

	// Unframed for a client that did not ask: Docker's bytes.
	w := serve(t, h, "GET", "/v1.50/containers/c1/logs?stdout=1", nil)
	if w.Header().Get(proxyproto.Framed) != "" || !bytes.Contains(w.Body.Bytes(), []byte("one\n")) {
		t.Fatalf("unframed: %v %q", w.Header(), w.Body.Bytes())
	}

	w = serve(t, h, "GET", "/v1.50/containers/c1/logs?stdout=1&follow=1&tail=2&since=100&timestamps=0", framed)
	if w.Header().Get(proxyproto.Framed) != "1" {
		t.Fatalf("no %s header: %v", proxyproto.Framed, w.Header())
	}
	fs := readFrames(t, w.Body.Bytes())
	if len(fs) != 4 || fs[0].Kind != proxyproto.KindToken || fs[3].Kind != proxyproto.KindEnd {
		t.Fatalf("frames %+v", fs)
	}
	tok, _ := url.ParseQuery(string(fs[0].Data))
	// The tail began at line 2, and since is pinned as an instant.
	if tok.Get("k") != "logs" || tok.Get("id") != "c1full" || tok.Get("seq") != "2" || tok.Get("since") != "100000000000" {
		t.Fatalf("token %q", fs[0].Data)
	}
	if fs[1].Pos != "3" || !strings.HasSuffix(string(fs[1].Data), "two\n") || fs[2].Pos != "4" {
		t.Fatalf("data frames %+v", fs[1:3])
	}

	// Cut after "two": the re-issue (whose since would now mean something else, and tail another line) continues
	// at line 3 with the first request's since.
	w = serve(t, h, "GET", "/v1.50/containers/c1/logs?stdout=1&follow=1&tail=2&since=999", map[string]string{
		proxyproto.Resumable: "1", proxyproto.ResumeHeader: string(fs[0].Data), proxyproto.ResumePositionHeader: fs[1].Pos})
	fs = readFrames(t, w.Body.Bytes())
	if len(fs) != 3 || !strings.HasSuffix(string(fs[1].Data), "three\n") || fs[2].Kind != proxyproto.KindEnd {
		t.Fatalf("resumed frames %+v", fs)
	}
	if f := b.gotLogs.From; f == nil || *f != (containers.LogPosition{Seq: 3}) || b.gotLogs.Since != time.Unix(100, 0) {
		t.Fatalf("resumed options: from %+v since %v", b.gotLogs.From, b.gotLogs.Since)
	}

	// Cut before anything was delivered: the token's own start, offset included.
	tok.Set("off", "2")
	serve(t, h, "GET", "/v1.50/containers/c1/logs?stdout=1&follow=1", map[string]string{
		proxyproto.Resumable: "1", proxyproto.ResumeHeader: tok.Encode()})
	if f := b.gotLogs.From; f == nil || *f != (containers.LogPosition{Seq: 2, Offset: 2}) {
		t.Fatalf("resumed from the token: %+v", b.gotLogs.From)
	}

	// A token of another kind, or for another container, is refused.
	w = serve(t, h, "GET", "/v1.50/containers/c1/logs?stdout=1", map[string]string{proxyproto.ResumeHeader: "k=wait&id=c1full"})
	if w.Code != http.StatusBadRequest {
		t.Fatalf("wrong kind: %d", w.Code)
	}
	tok.Set("id", "other")
	w = serve(t, h, "GET", "/v1.50/containers/c1/logs?stdout=1", map[string]string{proxyproto.ResumeHeader: tok.Encode()})
	if w.Code != http.StatusNotFound {
		t.Fatalf("other container: %d", w.Code)
	}
}

func TestWaitFramedAndResumed(t *testing.T) {
	b := &resumeBackend{waitCode: 3}
	h := New(Options{Containers: b})
	w := serve(t, h, "POST", "/v1.50/containers/c1/wait?condition=next-exit", map[string]string{proxyproto.Resumable: "1"})
	fs := readFrames(t, w.Body.Bytes())
	if len(fs) != 2 || string(fs[0].Data) != "id=c1full&k=wait&since=42" || fs[1].Kind != proxyproto.KindEnd ||
		!strings.Contains(string(fs[1].Data), `"StatusCode":3`) {
		t.Fatalf("frames %+v", fs)
	}
	if b.gotWait != nil {
		t.Fatalf("a new wait resumed %+v", b.gotWait)
	}
	serve(t, h, "POST", "/v1.50/containers/c1/wait?condition=next-exit", map[string]string{
		proxyproto.Resumable: "1", proxyproto.ResumeHeader: string(fs[0].Data)})
	if b.gotWait == nil || *b.gotWait != (containers.WaitCursor{ID: "c1full", Since: time.Unix(0, 42)}) {
		t.Fatalf("resumed wait got %+v", b.gotWait)
	}
	// Unframed, the body is Docker's JSON.
	w = serve(t, h, "POST", "/v1.50/containers/c1/wait", nil)
	if strings.TrimSpace(w.Body.String()) != `{"StatusCode":3}` {
		t.Fatalf("unframed wait %q", w.Body.String())
	}
}

func TestResumedStdinDropsWhatWasHandedOn(t *testing.T) {
	var sessions stdinSessions
	id, sess, err := sessions.open(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var acks []int64
	ack := func(n int64) { acks = append(acks, n) }
	in := newStdinReader(strings.NewReader("abcdef"), sess, 0, ack)
	buf := make([]byte, 4)
	n, _ := in.Read(buf) // "abcd" taken...
	if string(buf[:n]) != "abcd" {
		t.Fatalf("read %q", buf[:n])
	}
	in.Read(buf) // ...and handed on once the copier asks for more
	sess.release()

	// The re-issue resends from byte 2 (the last acknowledgement localproxy saw): bytes 2..3 are dropped.
	id2, sess, err := sessions.open(context.Background(), id)
	if err != nil || id2 != id {
		t.Fatal(id2, err)
	}
	in = newStdinReader(strings.NewReader("cdefgh"), sess, 2, ack)
	rest, _ := io.ReadAll(in)
	if string(rest) != "efgh" || acks[0] != 4 {
		t.Fatalf("resumed stdin %q, acks %v", rest, acks)
	}
	sess.release()
}
