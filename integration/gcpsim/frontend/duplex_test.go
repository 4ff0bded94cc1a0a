package frontend

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"
)

// A full-duplex request (localproxy's attach and exec over HTTP/2): the service answers before the request body
// ends, and the answer reaches the client while the client still sends.
func TestFullDuplexRequest(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(200)
		rc.Flush()
		br := bufio.NewReader(r.Body)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				io.WriteString(w, "echo "+line)
				rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}
	s2 := newStack(t, true, nil, echo)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", s2.url+"/containers/x/attach?stream=1", pr)
	req.Header.Set("X-Serverless-Authorization", "Bearer "+token(t, signingKey, map[string]any{"aud": s2.url, "email": alice}))
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() { resp, err := s2.client(true).Do(req); done <- result{resp, err} }()
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("no response headers while the request body is open (backend reached: %d)", s2.hits.Load())
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	br := bufio.NewReader(res.resp.Body)
	for _, l := range []string{"a\n", "b\n"} {
		io.WriteString(pw, l)
		got, err := br.ReadString('\n')
		if err != nil || got != "echo "+l {
			t.Fatalf("got %q, %v", got, err)
		}
	}
}
