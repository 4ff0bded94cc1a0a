package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// cutStack returns the docker host whose path to the control plane goes through gcpsim's front end with a short
// request timeout, and that timeout; the test is skipped without one. Either the stack's own front end cuts
// quickly (GCPSIM_REQUEST_TIMEOUT, with DOCKER_HOST), or scripts/dev provides a second localproxy socket whose
// front end does (RUNSOCK_CUT_DOCKER_HOST, cutting at RUNSOCK_CUT_REQUEST_TIMEOUT), leaving the rest of the suite
// at the usual timeout.
func cutStack(t *testing.T) (string, time.Duration) {
	t.Helper()
	host, raw := os.Getenv("RUNSOCK_CUT_DOCKER_HOST"), os.Getenv("RUNSOCK_CUT_REQUEST_TIMEOUT")
	if host == "" {
		host, raw = stack.dockerHost, os.Getenv("GCPSIM_REQUEST_TIMEOUT")
	}
	cut, err := time.ParseDuration(raw)
	if raw == "" || err != nil || cut <= 0 || cut > 30*time.Second {
		t.Skipf("needs a front end whose request timeout is at most 30s (RUNSOCK_CUT_DOCKER_HOST and RUNSOCK_CUT_REQUEST_TIMEOUT, or GCPSIM_REQUEST_TIMEOUT; got %q)", raw)
	}
	return host, cut
}

// streamCmd is a docker command running in the background.
type streamCmd struct {
	name     string
	cmd      *exec.Cmd
	out, err bytes.Buffer
	done     chan struct{}
	code     int
}

func startDocker(ctx context.Context, t *testing.T, host, name string, args ...string) *streamCmd {
	t.Helper()
	return startDockerIn(ctx, t, host, name, nil, args...)
}

func startDockerIn(ctx context.Context, t *testing.T, host, name string, stdin io.Reader, args ...string) *streamCmd {
	t.Helper()
	s := &streamCmd{name: name, cmd: dockerCmd(ctx, t, host, args...), done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr, s.cmd.Stdin = &s.out, &s.err, stdin
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		if err := s.cmd.Wait(); err != nil {
			s.code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				s.code = ee.ExitCode()
			}
		}
	}()
	return s
}

// numbered checks that out is lines lineFROM..lineN, each once, in order, and returns FROM.
func numbered(out string, n int) (int, error) { return numberedAs(out, n, "line%d") }

// numberedAs is numbered with another line format.
func numberedAs(out string, n int, format string) (int, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" || len(lines) == 0 {
		return 0, fmt.Errorf("no output")
	}
	var from int
	if _, err := fmt.Sscanf(lines[0], format, &from); err != nil {
		return 0, fmt.Errorf("first line %q", lines[0])
	}
	for i, l := range lines {
		if want := fmt.Sprintf(format, from+i); l != want {
			return from, fmt.Errorf("line %d is %q, want %q (lost or repeated output)", i+1, l, want)
		}
	}
	if last := from + len(lines) - 1; last != n {
		return from, fmt.Errorf("last line is "+format+", want "+format, last, n)
	}
	return from, nil
}

// Cloud Run cuts every request at its timeout, streams included, and the cut looks like a clean end. A container
// printing a numbered line every 100 ms for 60 s outlives several cuts (the front end's timeout is ~20 s here):
// `docker run` (attached), `docker logs -f`, `docker wait` and `docker attach` on it each see every line exactly
// once, in order, and the exit code. Stdin crosses the cuts too: a `docker run -i` fed a numbered line every 100 ms
// for 40 s echoes each once. An `exec -t` longer than the cap ends with a message saying why.
func TestStreamsOutliveTheRequestTimeout(t *testing.T) {
	host, cut := cutStack(t)
	const n = 600
	name := uniqueName("cut")
	removeOnCleanup(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	script := fmt.Sprintf(`sleep 2; i=0; while [ $i -lt %d ]; do i=$((i+1)); echo line$i; sleep 0.1; done; exit 7`, n)
	began := time.Now()
	run := startDocker(ctx, t, host, "run", "run", "--name", name, "alpine", "sh", "-c", script)
	waitFor(t, 2*time.Minute, name+" running", func() bool {
		r := dockerAs(t, host, "", "inspect", "-f", "{{.State.Running}}", name)
		return r.code == 0 && strings.TrimSpace(r.stdout) == "true"
	})
	cmds := []*streamCmd{
		run,
		startDocker(ctx, t, host, "attach", "attach", name),
		startDocker(ctx, t, host, "logs -f", "logs", "-f", name),
		startDocker(ctx, t, host, "wait", "wait", name),
		startDocker(ctx, t, host, "exec -t", "exec", "-t", name, "sh", "-c", "echo exec-started; sleep 100"),
	}
	const inLines = 400
	pr, pw := io.Pipe()
	go func() {
		defer pw.Close()
		for i := 1; i <= inLines && ctx.Err() == nil; i++ {
			fmt.Fprintf(pw, "in%d\n", i)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	cmds = append(cmds, startDockerIn(ctx, t, host, "run -i", pr, "run", "-i", "--rm", "alpine", "sh", "-c", `while read l; do echo "got $l"; done`))
	var wg sync.WaitGroup
	for _, c := range cmds {
		wg.Add(1)
		go func() { defer wg.Done(); <-c.done }()
	}
	wg.Wait()
	took := time.Since(began)
	if took < 2*cut {
		t.Fatalf("the run took %v, less than two request timeouts (%v): nothing was cut", took, cut)
	}
	t.Logf("ran %v across request timeouts of %v", took, cut)
	for _, c := range cmds {
		t.Run(c.name, func(t *testing.T) {
			switch c.name {
			case "run", "attach":
				from, err := numbered(c.out.String(), n)
				if err != nil || c.code != 7 || (c.name == "run" && from != 1) {
					t.Fatalf("exit %d, from line%d: %v\nstderr: %s", c.code, from, err, c.err.String())
				}
			case "logs -f":
				if from, err := numbered(c.out.String(), n); err != nil || from != 1 || c.code != 0 {
					t.Fatalf("exit %d, from line%d: %v\nstderr: %s", c.code, from, err, c.err.String())
				}
			case "wait":
				if strings.TrimSpace(c.out.String()) != "7" || c.code != 0 {
					t.Fatalf("exit %d, printed %q\nstderr: %s", c.code, c.out.String(), c.err.String())
				}
			case "run -i":
				if from, err := numberedAs(c.out.String(), inLines, "got in%d"); err != nil || from != 1 || c.code != 0 {
					t.Fatalf("exit %d, from line %d: %v\nstderr: %s", c.code, from, err, c.err.String())
				}
			case "exec -t":
				out := c.out.String() + c.err.String()
				if !strings.Contains(out, "exec-started") || !strings.Contains(out, "request timeout") {
					t.Fatalf("exit %d, printed %q: want the session cut with a message", c.code, out)
				}
			}
		})
	}
}
