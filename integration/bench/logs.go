package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// logLines is how many short lines the logs benchmark's containers print (`seq`: 1,288,895 bytes).
const logLines = 200_000

// benchLogs: `docker logs` of a container that printed 200,000 short lines (CLI wall time, output counted), and
// `docker logs -f` of a container printing them as fast as it can (first line → last line arriving, through the Go
// SDK): the cost of one entry and one frame per line.
func benchLogs(ctx context.Context, e *env) []row {
	reps := max(e.n/4, 3)
	type result struct{ history, follow figure }
	measure := func(s *side) result {
		r := result{history: figure{unit: "ms"}, follow: figure{unit: "ms"}}
		var ds []time.Duration
		r.history.err = func() error {
			id, err := s.runDetached(ctx, nil, "seq", fmt.Sprint(logLines))
			if err != nil {
				return err
			}
			defer s.remove(context.WithoutCancel(ctx), id)
			wait := s.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			select {
			case <-wait.Result:
			case err := <-wait.Error:
				return fmt.Errorf("wait: %w", err)
			}
			ds, err = repeat(ctx, reps, func(ctx context.Context) (time.Duration, error) {
				t0 := time.Now()
				out, err := s.docker(ctx, "logs", id)
				d := time.Since(t0)
				if n := strings.Count(out, "\n"); err == nil && n != logLines {
					err = fmt.Errorf("docker logs printed %d lines, want %d", n, logLines)
				}
				return d, err
			})
			return err
		}()
		r.history = durations(ds, r.history.err)
		ds = nil
		var err error
		for range reps {
			var d time.Duration
			if d, err = benchLogsFollow(ctx, s); err != nil {
				break
			}
			ds = append(ds, d)
		}
		r.follow = durations(ds, err)
		return r
	}
	rs, ref := measure(e.runsock), measure(e.reference)
	return []row{
		{name: fmt.Sprintf("`docker logs` of %d lines, container exited (CLI wall time, n=%d)", logLines, reps),
			runsock: rs.history, reference: ref.history, target: "≤ 2× reference", judge: ratioAtMost(2)},
		{name: fmt.Sprintf("`docker logs -f` of `seq %d`: first line → last line (Go SDK, %d runs)", logLines, reps),
			runsock: rs.follow, reference: ref.follow, target: "≤ 2× reference", judge: ratioAtMost(2)},
	}
}

// benchLogsFollow starts a container that waits for /tmp/go, follows its logs, creates /tmp/go (exec) and times the
// lines from the first arriving to the last.
func benchLogsFollow(ctx context.Context, s *side) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	id, err := s.runDetached(ctx, nil, "sh", "-c", fmt.Sprintf("while [ ! -e /tmp/go ]; do usleep 20000; done; seq %d; sleep 600", logLines))
	if err != nil {
		return 0, err
	}
	defer s.remove(context.WithoutCancel(ctx), id)
	rc, err := s.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return 0, fmt.Errorf("logs -f: %w", err)
	}
	defer rc.Close()
	if _, err := s.docker(ctx, "exec", id, "touch", "/tmp/go"); err != nil {
		return 0, err
	}
	r := demux(rc)
	buf := make([]byte, 64<<10)
	var first time.Time
	n := 0
	for n < logLines {
		k, err := r.Read(buf)
		if k > 0 && first.IsZero() {
			first = time.Now()
		}
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				err = fmt.Errorf("%d of %d lines arrived", n, logLines)
			}
			return 0, err
		}
	}
	return time.Since(first), nil
}
