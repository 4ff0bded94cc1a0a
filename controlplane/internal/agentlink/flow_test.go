package agentlink

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// throttled passes r's bytes on at about rate bytes per second: a slow docker client on the control plane's side.
type throttled struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     int64
}

func (t *throttled) Read(p []byte) (int, error) {
	if t.start.IsZero() {
		t.start = time.Now()
	}
	n, err := t.r.Read(p[:min(len(p), 64<<10)])
	t.n += int64(n)
	if ahead := time.Duration(float64(t.n)/t.rate*float64(time.Second)) - time.Since(t.start); ahead > 0 {
		time.Sleep(ahead)
	}
	return n, err
}

// heapPeak samples the process's HeapInuse until stopped and returns the highest sample.
type heapPeak struct {
	stop chan struct{}
	done chan uint64
}

func sampleHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		var ms runtime.MemStats
		var peak uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) end() uint64 { close(h.stop); return <-h.done }

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// checkPattern reads what patterned wrote and fails on the first differing byte.
type checkPattern struct {
	off int64
	bad error
}

func (c *checkPattern) Write(p []byte) (int, error) {
	for i, b := range p {
		if want := byte((c.off + int64(i)) % 251); b != want && c.bad == nil {
			c.bad = fmt.Errorf("byte %d is %d, want %d", c.off+int64(i), b, want)
		}
	}
	c.off += int64(len(p))
	return len(p), nil
}

// TestLargeArchiveSlowClientKeepsHeapFlat copies 256 MiB into and out of the agent's filesystem while the client
// side reads or writes at about 20 MiB/s: the control plane's heap must stay flat, however fast the agent is.
func TestLargeArchiveSlowClientKeepsHeapFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB at client speed")
	}
	const (
		size  = 256 << 20
		rate  = 20 << 20
		bound = 64 << 20
	)
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	e.startAgent(id, e.container(id, ""), nil, "sleep", "300")
	e.waitConnected(id)
	ctx := context.Background()
	dest := t.TempDir()

	// cp in: the client uploads slowly.
	base := heapInuse()
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tw := tar.NewWriter(pw)
		_ = tw.WriteHeader(&tar.Header{Name: "big.bin", Mode: 0o644, Size: size})
		_, _ = io.Copy(tw, &patterned{left: size})
		pw.CloseWithError(tw.Close())
	}()
	hp := sampleHeap()
	start := time.Now()
	err := e.hub.ArchivePut(ctx, id, dest, &throttled{r: pr, rate: rate}, PutOptions{})
	putPeak, putTime := hp.end(), time.Since(start)
	pr.Close()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	// cp out: the client downloads slowly.
	base2 := heapInuse()
	hp = sampleHeap()
	start = time.Now()
	_, rc, err := e.hub.ArchiveGet(ctx, id, filepath.Join(dest, "big.bin"))
	if err != nil {
		hp.end()
		t.Fatal(err)
	}
	tr := tar.NewReader(&throttled{r: rc, rate: rate})
	hdr, err := tr.Next()
	if err != nil {
		hp.end()
		t.Fatal(err)
	}
	var check checkPattern
	n, err := io.Copy(&check, tr)
	rc.Close()
	getPeak, getTime := hp.end(), time.Since(start)
	if err != nil || n != size || hdr.Size != size || check.bad != nil {
		t.Fatalf("cp out: %d bytes (header %d), err %v, content %v", n, hdr.Size, err, check.bad)
	}

	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	growth := func(peak, base uint64) uint64 { return peak - min(peak, base) }
	t.Logf("cp in  256 MiB in %v: heap in use %.1f MiB before, peak %.1f MiB (+%.1f)", putTime.Round(time.Millisecond), mib(base), mib(putPeak), mib(growth(putPeak, base)))
	t.Logf("cp out 256 MiB in %v: heap in use %.1f MiB before, peak %.1f MiB (+%.1f)", getTime.Round(time.Millisecond), mib(base2), mib(getPeak), mib(growth(getPeak, base2)))
	if g := growth(putPeak, base); g > bound {
		t.Errorf("cp in: control plane heap grew %.1f MiB (bound %.0f MiB)", mib(g), mib(bound))
	}
	if g := growth(getPeak, base2); g > bound {
		t.Errorf("cp out: control plane heap grew %.1f MiB (bound %.0f MiB)", mib(g), mib(bound))
	}
}

// slowWriter takes bytes at about rate bytes per second and counts them.
type slowWriter struct {
	rate  float64
	start time.Time
	n     int64
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if w.start.IsZero() {
		w.start = time.Now()
	}
	w.n += int64(len(p))
	if ahead := time.Duration(float64(w.n)/w.rate*float64(time.Second)) - time.Since(w.start); ahead > 0 {
		time.Sleep(ahead)
	}
	return len(p), nil
}

// TestExecOutputToSlowClientKeepsHeapFlat: an exec that prints 256 MiB to a client taking 64 MiB/s.
func TestExecOutputToSlowClientKeepsHeapFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB at client speed")
	}
	const size, bound = 256 << 20, 64 << 20
	e := newEnv(t, true, nil)
	id := uniqueID(t)
	e.startAgent(id, e.container(id, ""), nil, "sleep", "120")
	e.waitConnected(id)
	base := heapInuse()
	hp := sampleHeap()
	out := &slowWriter{rate: 64 << 20}
	code, err := e.hub.Exec(context.Background(), id, ExecSpec{Cmd: []string{"head", "-c", fmt.Sprint(size), "/dev/zero"}}, Streams{Stdout: out}, nil)
	peak := hp.end()
	if err != nil || code != 0 || out.n != size {
		t.Fatalf("exec: code %d, %d bytes, err %v", code, out.n, err)
	}
	g := peak - min(peak, base)
	t.Logf("exec output 256 MiB: heap in use %.1f MiB before, peak %.1f MiB (+%.1f)", float64(base)/(1<<20), float64(peak)/(1<<20), float64(g)/(1<<20))
	if g > bound {
		t.Errorf("control plane heap grew %.1f MiB (bound %d MiB)", float64(g)/(1<<20), bound>>20)
	}
}

// TestExecStdinWhileOutputWaitsForCredit: cat echoes 32 MiB to a slow client. Its stdout waits for credit while the
// control plane still sends stdin; the credits must get through regardless, or the session deadlocks.
func TestExecStdinWhileOutputWaitsForCredit(t *testing.T) {
	const size = 32 << 20
	e := newEnv(t, false, nil)
	id := uniqueID(t)
	e.startAgent(id, e.container(id, ""), nil, "sleep", "120")
	e.waitConnected(id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &checkPattern{}
	slow := &slowWriter{rate: 32 << 20}
	code, err := e.hub.Exec(ctx, id, ExecSpec{Cmd: []string{"cat"}},
		Streams{Stdin: &patterned{left: size}, Stdout: io.MultiWriter(out, slow)}, nil)
	if err != nil || code != 0 || out.off != size || out.bad != nil {
		t.Fatalf("cat: code %d, %d of %d bytes back (%v), err %v", code, out.off, size, out.bad, err)
	}
}

// TestAbortedArchiveGetEndsTheAgentsSide: a client that stops reading a large cp out and goes away must not leave
// the agent waiting for credit with the file open.
func TestAbortedArchiveGetEndsTheAgentsSide(t *testing.T) {
	e := newEnv(t, false, nil)
	id := uniqueID(t)
	p := e.startAgent(id, e.container(id, ""), nil, "sleep", "120")
	e.waitConnected(id)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "big.bin")
	if code, err := e.hub.Exec(ctx, id, ExecSpec{Cmd: []string{"sh", "-c", "head -c 67108864 /dev/zero > " + file}}, Streams{}, nil); err != nil || code != 0 {
		t.Fatalf("make file: %d %v", code, err)
	}
	_, rc, err := e.hub.ArchiveGet(ctx, id, file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, rc, 1<<20); err != nil {
		t.Fatal(err)
	}
	if !agentHasOpen(p.cmd.Process.Pid, file) {
		t.Fatal("the agent does not have the file open mid-copy")
	}
	rc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for agentHasOpen(p.cmd.Process.Pid, file) {
		if time.Now().After(deadline) {
			t.Fatal("the agent still has the file open 5 s after the client went away")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func agentHasOpen(pid int, path string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == path {
			return true
		}
	}
	return false
}
