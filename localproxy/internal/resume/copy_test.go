package resume

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runsock/runsock/proxyproto"
)

// countingClient is the client side of a copy: what was written, and how much of it was flushed, when.
type countingClient struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	flushes int
	flushed int // bytes of buf flushed
}

func (c *countingClient) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *countingClient) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushes++
	c.flushed = c.buf.Len()
	return nil
}

func (c *countingClient) state() (flushed string, flushes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()[:c.flushed], c.flushes
}

func framedLines(from, to int, end bool) []byte {
	b, _ := proxyproto.Append(nil, proxyproto.Frame{Kind: proxyproto.KindToken, Data: []byte("tok")})
	for i := from; i < to; i++ {
		b, _ = proxyproto.Append(b, proxyproto.Frame{Kind: proxyproto.KindData, Pos: fmt.Sprint(i + 1), Data: []byte(fmt.Sprintf("%d\n", i))})
	}
	if end {
		b, _ = proxyproto.Append(b, proxyproto.Frame{Kind: proxyproto.KindEnd})
	}
	return b
}

// TestCopyBatchesFlushes: a body whose frames have all arrived (a log's history) reaches the client whole, in
// order, with one flush per buffer's worth rather than one per line.
func TestCopyBatchesFlushes(t *testing.T) {
	const lines = 20000
	var c countingClient
	var st state
	progressed, clientErr, readErr := st.copy(&c, c.flush, bytes.NewReader(framedLines(0, lines, true)), nil)
	if !progressed || clientErr != nil || readErr != nil || !st.ended {
		t.Fatalf("copy: progressed %v, client error %v, read error %v, ended %v", progressed, clientErr, readErr, st.ended)
	}
	var want strings.Builder
	for i := range lines {
		fmt.Fprintf(&want, "%d\n", i)
	}
	flushed, flushes := c.state()
	if flushed != want.String() {
		t.Fatalf("the client got %d bytes flushed, want all %d", len(flushed), want.Len())
	}
	if st.token != "tok" || st.pos != fmt.Sprint(lines) {
		t.Fatalf("token %q pos %q, want tok and %d", st.token, st.pos, lines)
	}
	// ~26 bytes a frame: 20,000 frames are ~8 buffers of 64 KiB.
	if flushes > 20 {
		t.Fatalf("%d flushes for %d lines that had all arrived, want a few (one per read-ahead buffer)", flushes, lines)
	}
	t.Logf("%d lines, %d flushes", lines, flushes)
}

// TestCopyFlushesTheLastLineAtOnce: a line that is the last to have arrived is flushed without waiting for more
// (logs -f stays live), and the pause is seen by the client as the lines so far, nothing held back.
func TestCopyFlushesTheLastLineAtOnce(t *testing.T) {
	pr, pw := io.Pipe()
	var c countingClient
	var st state
	done := make(chan error, 1)
	go func() {
		_, clientErr, readErr := st.copy(&c, c.flush, pr, nil)
		done <- errorsJoin(clientErr, readErr)
	}()
	for burst := range 3 {
		if _, err := pw.Write(framedLines(burst*100, burst*100+100, false)); err != nil {
			t.Fatal(err)
		}
		want := ""
		for i := range burst*100 + 100 {
			want += fmt.Sprintf("%d\n", i)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			flushed, _ := c.state()
			if flushed == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("burst %d: flushed %q…, want the %d lines that arrived", burst, flushed[:min(len(flushed), 40)], burst*100+100)
			}
			time.Sleep(time.Millisecond)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st.ended {
		t.Fatal("a body that ended without its end frame counted as ended")
	}
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// BenchmarkCopyLogLines: the localproxy side of `docker logs` of short lines, per line.
func BenchmarkCopyLogLines(b *testing.B) {
	body := framedLines(0, 10000, true)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var st state
		w := &flushCounter{}
		if _, cerr, rerr := st.copy(w, w.flush, bytes.NewReader(body), nil); cerr != nil || rerr != nil {
			b.Fatal(cerr, rerr)
		}
	}
}

type flushCounter struct{ n int }

func (f *flushCounter) Write(p []byte) (int, error) { return len(p), nil }
func (f *flushCounter) flush() error                { f.n++; return nil }
