package sessions

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runsock/runsock/agent/internal/mainproc"
	"github.com/runsock/runsock/agent/internal/output"
	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/linkproto"
)

// stream is an in-memory FrameStream: the test's frames in, the session's frames out.
type stream struct {
	in   chan linkproto.Frame // closed = the control plane half-closed
	mu   sync.Mutex
	sent []linkproto.Frame
}

func newStream(frames ...linkproto.Frame) *stream {
	s := &stream{in: make(chan linkproto.Frame, len(frames)+1)}
	for _, f := range frames {
		s.in <- f
	}
	return s
}

func (s *stream) Context() context.Context { return context.Background() }

func (s *stream) Send(f *linkproto.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *f
	c.Data, c.Meta = bytes.Clone(f.Data), bytes.Clone(f.Meta)
	s.sent = append(s.sent, c)
	return nil
}

func (s *stream) Recv(f *linkproto.Frame) error {
	got, ok := <-s.in
	if !ok {
		return io.EOF
	}
	*f = got
	return nil
}

// result is what a session sent: its output per stream, and how it ended (the Result's code, or the Error).
type result struct {
	stdout, stderr string
	code           int64
	err            *linkproto.Error
	started        bool
}

func (s *stream) result(t *testing.T) result {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var r result
	var out, errb strings.Builder
	for _, f := range s.sent {
		switch f.Type {
		case linkproto.FrameStarted:
			r.started = true
		case linkproto.FrameData:
			if f.Stream == linkproto.StreamStderr {
				errb.Write(f.Data)
			} else {
				out.Write(f.Data)
			}
		case linkproto.FrameResult:
			r.code = f.Code
		case linkproto.FrameError:
			r.err = &linkproto.Error{}
			if err := linkproto.DecodeMeta(f.Meta, r.err); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.stdout, r.stderr = out.String(), errb.String()
	return r
}

func data(s string) linkproto.Frame {
	return linkproto.Frame{Type: linkproto.FrameData, Data: []byte(s)}
}

var closeFrame = linkproto.Frame{Type: linkproto.FrameClose}

func TestExec(t *testing.T) {
	r := pid1.NewReaper()
	defer r.Close()
	s := &Server{Reaper: r}
	tests := []struct {
		name     string
		spec     linkproto.ExecSpec
		in       []linkproto.Frame
		want     result
		wantKind string // an Error frame of this kind instead of a result
	}{
		{name: "output and exit code", spec: linkproto.ExecSpec{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 4"}},
			want: result{stdout: "out\n", stderr: "err\n", code: 4, started: true}},
		{name: "stdin until close", spec: linkproto.ExecSpec{Cmd: []string{"cat"}, Stdin: true},
			in:   []linkproto.Frame{data("one "), data("two"), closeFrame},
			want: result{stdout: "one two", started: true}},
		{name: "environment and working directory",
			spec: linkproto.ExecSpec{Cmd: []string{"sh", "-c", `echo "$GREETING" "$(pwd)"`}, Env: []string{"GREETING=hi"}, WorkingDir: "/"},
			want: result{stdout: "hi /\n", started: true}},
		{name: "a signal frame", spec: linkproto.ExecSpec{Cmd: []string{"sleep", "30"}},
			in:   []linkproto.Frame{{Type: linkproto.FrameSignal, Code: int64(syscall.SIGTERM)}},
			want: result{code: 143, started: true}},
		{name: "no command", spec: linkproto.ExecSpec{}, wantKind: linkproto.ErrKindInvalid},
		{name: "an unknown user", spec: linkproto.ExecSpec{Cmd: []string{"true"}, User: "no-such-user-here"}, wantKind: linkproto.ErrKindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStream(tt.in...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Serve(ctx, linkproto.OpenSpec{Kind: linkproto.KindExec, Exec: &tt.spec}, st); err != nil {
				t.Fatal(err)
			}
			got := st.result(t)
			if tt.wantKind != "" {
				if got.err == nil || got.err.Kind != tt.wantKind {
					t.Fatalf("session %+v; want an error of kind %s", got, tt.wantKind)
				}
				return
			}
			if got.err != nil || got.stdout != tt.want.stdout || got.stderr != tt.want.stderr || got.code != tt.want.code || !got.started {
				t.Errorf("session %+v (error %v); want %+v", got, got.err, tt.want)
			}
		})
	}
}

func TestServeRefusesWhatItCannotServe(t *testing.T) {
	tests := []struct {
		name string
		spec linkproto.OpenSpec
	}{
		{"unknown kind", linkproto.OpenSpec{Kind: "nope"}},
		{"exec without a spec", linkproto.OpenSpec{Kind: linkproto.KindExec}},
		{"archive without a path", linkproto.OpenSpec{Kind: linkproto.KindArchiveStat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStream()
			if err := (&Server{}).Serve(context.Background(), tt.spec, st); err != nil {
				t.Fatal(err)
			}
			if got := st.result(t); got.err == nil || got.err.Kind != linkproto.ErrKindInvalid {
				t.Errorf("session %+v; want an invalid-argument error", got)
			}
		})
	}
}

// Attach feeds the main process's stdin; signal reaches it.
func TestAttachAndSignal(t *testing.T) {
	r := pid1.NewReaper()
	defer r.Close()
	buf := output.New(1<<20, time.Now)
	m := mainproc.Start(context.Background(), r, []string{"sh", "-c", "read line; echo got $line; exec sleep 30"},
		mainproc.Options{Stdin: true}, buf)
	s := &Server{Reaper: r, Main: m}

	st := newStream(data("hello\n"), closeFrame)
	if err := s.Serve(context.Background(), linkproto.OpenSpec{Kind: linkproto.KindAttach}, st); err != nil {
		t.Fatal(err)
	}
	if got := st.result(t); got.err != nil {
		t.Fatalf("attach: %v", got.err)
	}
	chunks, _, err := buf.Next(context.Background(), 0)
	if err != nil || len(chunks) == 0 || string(chunks[0].Data) != "got hello\n" {
		t.Fatalf("the main process's output %v, %v; want it to have read the attach's input", chunks, err)
	}

	// SIGKILL: sleep has no handler for SIGTERM, which would not reach it as PID 1 (mainproc tests that).
	st = newStream()
	if err := s.Serve(context.Background(), linkproto.OpenSpec{Kind: linkproto.KindSignal, Signal: int(syscall.SIGKILL)}, st); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the signal did not end the main process")
	}
	if code, _ := m.Exit(); code != 137 {
		t.Errorf("exit %d; want 137", code)
	}
	st = newStream()
	s.Serve(context.Background(), linkproto.OpenSpec{Kind: linkproto.KindSignal, Signal: int(syscall.SIGTERM)}, st)
	if got := st.result(t); got.err == nil || got.err.Kind != linkproto.ErrKindConflict {
		t.Errorf("signal after the exit: %+v; want a conflict", got)
	}
}

// A put extracts a tar into a directory; a get sends it back; a stat describes it.
func TestArchive(t *testing.T) {
	dir := t.TempDir()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("world"))
	tw.Close()
	s := &Server{}

	st := newStream(data(tb.String()), closeFrame)
	if err := s.Serve(context.Background(), linkproto.OpenSpec{Kind: linkproto.KindArchivePut, Archive: &linkproto.ArchiveSpec{Path: dir}}, st); err != nil {
		t.Fatal(err)
	}
	if got := st.result(t); got.err != nil {
		t.Fatalf("put: %v", got.err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(b) != "world" {
		t.Fatalf("after put: %q, %v", b, err)
	}

	st = newStream()
	if err := s.Serve(context.Background(), linkproto.OpenSpec{Kind: linkproto.KindArchiveGet, Archive: &linkproto.ArchiveSpec{Path: filepath.Join(dir, "hello.txt")}}, st); err != nil {
		t.Fatal(err)
	}
	got := st.result(t)
	if got.err != nil || !got.started {
		t.Fatalf("get: %+v", got)
	}
	tr := tar.NewReader(strings.NewReader(got.stdout))
	h, err := tr.Next()
	if err != nil || h.Name != "hello.txt" {
		t.Fatalf("get's tar: %v, %v", h, err)
	}
	if b, _ := io.ReadAll(tr); string(b) != "world" {
		t.Errorf("get's file: %q", b)
	}

	st = newStream()
	s.Serve(context.Background(), linkproto.OpenSpec{Kind: linkproto.KindArchiveStat, Archive: &linkproto.ArchiveSpec{Path: filepath.Join(dir, "missing")}}, st)
	if got := st.result(t); got.err == nil || got.err.Kind != linkproto.ErrKindNotFound {
		t.Errorf("stat of a missing path: %+v; want not found", got)
	}
}
