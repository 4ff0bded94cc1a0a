package forward

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

// A FAKE control plane that frames as proxyproto says and, like Cloud Run at its request timeout, ends every
// response cleanly after a few frames — sometimes in the middle of a frame — so localproxy must resume.

func frame(w io.Writer, kind byte, pos, data string) {
	proxyproto.Write(w, proxyproto.Frame{Kind: kind, Pos: pos, Data: []byte(data)})
	w.(http.Flusher).Flush()
}

// cuttingLogs serves lines 0..n-1, at most perRequest of them per request, each frame's pos the next line.
type cuttingLogs struct {
	n, perRequest int
	mu            sync.Mutex
	seen          []string // "token|pos" of every request
}

func (c *cuttingLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(proxyproto.Resumable) != "1" {
		http.Error(w, "not resumable", 400)
		return
	}
	tok, pos := r.Header.Get(proxyproto.ResumeHeader), r.Header.Get(proxyproto.ResumePositionHeader)
	c.mu.Lock()
	c.seen = append(c.seen, tok+"|"+pos)
	c.mu.Unlock()
	from := 0
	if tok != "" {
		from, _ = strconv.Atoi(strings.TrimPrefix(tok, "k=fake&from="))
	}
	if pos != "" {
		from, _ = strconv.Atoi(pos)
	}
	w.Header().Set(proxyproto.Framed, "1")
	w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	w.WriteHeader(200)
	frame(w, proxyproto.KindToken, "", fmt.Sprintf("k=fake&from=%d", from))
	for i := from; i < c.n; i++ {
		if i-from == c.perRequest {
			if i%2 == 0 { // cut inside a frame: its bytes must not reach the client
				b, _ := proxyproto.Append(nil, proxyproto.Frame{Kind: proxyproto.KindData, Pos: "x", Data: []byte("partial\n")})
				w.Write(b[:len(b)-3])
			}
			return
		}
		frame(w, proxyproto.KindData, strconv.Itoa(i+1), fmt.Sprintf("line %d\n", i))
	}
	frame(w, proxyproto.KindEnd, "", "")
}

func TestLogsContinueAcrossCuts(t *testing.T) {
	cp := &cuttingLogs{n: 50, perRequest: 7}
	c := unixClient(localProxy(t, controlPlane(t, cp), nil))
	resp, err := c.Get("http://docker/v1.50/containers/c1/logs?follow=1&stdout=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if string(body) != want.String() {
		t.Fatalf("client saw\n%s\nwant every line once, in order", body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/vnd.docker.raw-stream" || resp.Header.Get(proxyproto.Framed) != "" {
		t.Fatalf("headers to the client: %v", resp.Header)
	}
	// One request per cut, each naming the stream and where the client is.
	if len(cp.seen) != 8 || cp.seen[0] != "|" || cp.seen[1] != "k=fake&from=0|7" || cp.seen[7] != "k=fake&from=0|49" {
		t.Fatalf("requests seen: %q", cp.seen)
	}
}

func TestWaitResumedReturnsTheExitOnce(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	cp := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get(proxyproto.ResumeHeader))
		n := len(calls)
		mu.Unlock()
		w.Header().Set(proxyproto.Framed, "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		frame(w, proxyproto.KindToken, "", "k=wait&id=c1&since=1")
		if n < 3 {
			time.Sleep(20 * time.Millisecond)
			return // cut: the headers, then nothing
		}
		frame(w, proxyproto.KindEnd, "", `{"Error":null,"StatusCode":3}`+"\n")
	}))
	resp, err := unixClient(localProxy(t, cp, nil)).Post("http://docker/v1.50/containers/c1/wait?condition=next-exit", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != `{"Error":null,"StatusCode":3}`+"\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	want := "/containers/c1/wait?condition=next-exit k=wait&id=c1&since=1"
	if len(calls) != 3 || !strings.HasSuffix(calls[2], want) || !strings.HasSuffix(calls[0], "next-exit ") {
		t.Fatalf("calls %q", calls)
	}
}

func TestAttachResumesOutputAndStdinWithoutRepeats(t *testing.T) {
	var mu sync.Mutex
	var n int
	errs := make(chan error, 4)
	cp := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		call := n
		mu.Unlock()
		w.Header().Set(proxyproto.Framed, "1")
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		w.WriteHeader(200)
		in := make([]byte, 5)
		switch call {
		case 1:
			frame(w, proxyproto.KindToken, "", "k=attach&id=c1&seq=1&in=s")
			io.ReadFull(r.Body, in)
			frame(w, proxyproto.KindStdinAck, "3", "") // only "abc" reached the container before the cut
			frame(w, proxyproto.KindData, "2", "got "+string(in[:3])+"\n")
		case 2:
			if tok, pos, at := r.Header.Get(proxyproto.ResumeHeader), r.Header.Get(proxyproto.ResumePositionHeader),
				r.Header.Get(proxyproto.StdinAtHeader); tok != "k=attach&id=c1&seq=1&in=s" || pos != "2" || at != "3" {
				errs <- fmt.Errorf("resume headers %q %q %q", tok, pos, at)
			}
			frame(w, proxyproto.KindToken, "", "k=attach&id=c1&seq=2&in=s")
			io.ReadFull(r.Body, in)
			frame(w, proxyproto.KindData, "3", "got "+string(in)+"\n")
			frame(w, proxyproto.KindEnd, "", "")
		}
	}))
	conn, br, resp := dockerHijack(t, localProxy(t, cp, nil), "/v1.50/containers/c1/attach?stdin=1&stdout=1&stream=1", "")
	if resp.StatusCode != 101 {
		t.Fatalf("%d", resp.StatusCode)
	}
	io.WriteString(conn, "abcde")
	if line, err := readLine(br, 5*time.Second); err != nil || line != "got abc\n" {
		t.Fatalf("first output %q, %v", line, err)
	}
	io.WriteString(conn, "fgh")
	if line, err := readLine(br, 5*time.Second); err != nil || line != "got defgh\n" {
		t.Fatalf("after the cut %q, %v (stdin must resume at the acknowledged byte)", line, err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("want EOF after the end frame, got %q, %v", rest, err)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

func TestCutExecEndsWithAMessage(t *testing.T) {
	cp := controlPlane(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(proxyproto.Framed, "1")
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		w.WriteHeader(200)
		frame(w, proxyproto.KindData, "", "$ ")
	}))
	_, br, resp := dockerHijack(t, localProxy(t, cp, nil), "/v1.50/exec/e1/start", `{"Detach":false,"Tty":true}`)
	if resp.StatusCode != 101 {
		t.Fatalf("%d", resp.StatusCode)
	}
	out, _ := io.ReadAll(br)
	if !strings.HasPrefix(string(out), "$ \r\nrunsock: ") || !strings.Contains(string(out), "request timeout") {
		t.Fatalf("client saw %q", out)
	}
}
