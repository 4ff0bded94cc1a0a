package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// stamper prints "T <sec> <usec>" every 20 ms with the time read inside the container (adjtimex, the only busybox
// applet that prints sub-second wall time). Containers share the host's clock, so now − stamp on the host is the
// one-way delay from the line being written to it being visible (plus ~1 ms for awk to print it).
const stamper = `while :; do adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{printf "T %s %s\n", s, $2}'; usleep 20000; done`

// benchLatency: a line written in a container → visible in `docker logs -f` and in attach (one-way, same clock),
// and a line written on attach's stdin → back on its stdout (round trip, an upper bound).
func benchLatency(ctx context.Context, e *env) []row {
	lines := max(10*e.n, 50)
	type result struct{ logs, attach, echo figure }
	measure := func(s *side) result {
		var r result
		id, err := s.runDetached(ctx, nil, "sh", "-c", stamper)
		if err != nil {
			return result{failed(err), failed(err), failed(err)}
		}
		defer s.remove(context.WithoutCancel(ctx), id)
		logsc, attachc := make(chan figure, 1), make(chan figure, 1)
		go func() { logsc <- durations(oneWayLogs(ctx, s, id, lines)) }()
		go func() { attachc <- durations(oneWayAttach(ctx, s, id, lines)) }()
		r.logs, r.attach = <-logsc, <-attachc
		r.echo = durations(roundTrip(ctx, s, lines/2))
		r.echo.note = "round trip"
		return r
	}
	rs, ref := measure(e.runsock), measure(e.reference)
	target := "p50 ≤ 50 ms, p99 ≤ 200 ms"
	return []row{
		{name: fmt.Sprintf("line written in container → `docker logs -f` (one-way, %d lines)", lines),
			runsock: rs.logs, reference: ref.logs, target: target, judge: absolute(50, 200)},
		{name: fmt.Sprintf("line written in container → attach stdout (one-way, %d lines)", lines),
			runsock: rs.attach, reference: ref.attach, target: target, judge: absolute(50, 200)},
		{name: fmt.Sprintf("attach stdin → `cat` → attach stdout (round trip, upper bound, %d lines)", lines/2),
			runsock: rs.echo, reference: ref.echo, target: target, judge: absolute(50, 200)},
	}
}

func oneWayLogs(ctx context.Context, s *side, id string, lines int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := s.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Tail: "0"})
	if err != nil {
		return nil, fmt.Errorf("logs -f: %w", err)
	}
	defer rc.Close()
	return collectStamps(ctx, cancel, demux(rc), lines)
}

func oneWayAttach(ctx context.Context, s *side, id string, lines int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err := s.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer res.Close()
	go func() { <-ctx.Done(); res.Close() }()
	return collectStamps(ctx, cancel, demux(res.Reader), lines)
}

// collectStamps reads "T sec usec" lines and returns now − stamp for each, skipping lines stamped before it
// started (history) and the first five (warm-up). It gives up after 30 s plus 100 ms a line.
func collectStamps(ctx context.Context, cancel context.CancelFunc, r io.Reader, lines int) ([]time.Duration, error) {
	start := time.Now()
	timer := time.AfterFunc(30*time.Second+time.Duration(lines)*100*time.Millisecond, cancel)
	defer timer.Stop()
	sc := bufio.NewScanner(r)
	var ds []time.Duration
	seen := 0
	for len(ds) < lines && sc.Scan() {
		now := time.Now()
		stamp, ok := parseStamp(sc.Text())
		if !ok || stamp.Before(start) {
			continue
		}
		if seen++; seen <= 5 {
			continue
		}
		ds = append(ds, now.Sub(stamp))
	}
	if len(ds) < lines {
		err := sc.Err()
		if err == nil || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			err = fmt.Errorf("%d of %d lines arrived within %s", len(ds), lines, time.Since(start).Round(time.Second))
		}
		return ds, err
	}
	return ds, nil
}

func parseStamp(line string) (time.Time, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "T" {
		return time.Time{}, false
	}
	sec, err1 := strconv.ParseInt(f[1], 10, 64)
	usec, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, usec*1000), true
}

// demux turns a multiplexed (non-TTY) Docker stream into one plain stream of stdout and stderr.
func demux(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, r)
		pw.CloseWithError(err)
	}()
	return pr
}

// roundTrip writes numbered lines on attach's stdin of a `cat` container and times each until it comes back.
func roundTrip(ctx context.Context, s *side, lines int) ([]time.Duration, error) {
	id, err := s.runDetached(ctx, []string{"-i"}, "cat")
	if err != nil {
		return nil, err
	}
	defer s.remove(context.WithoutCancel(ctx), id)
	res, err := s.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer res.Close()
	got := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(demux(res.Reader))
		for sc.Scan() {
			got <- sc.Text()
		}
		close(got)
	}()
	var ds []time.Duration
	for i := range lines + 3 {
		want := "R " + strconv.Itoa(i)
		t0 := time.Now()
		if _, err := io.WriteString(res.Conn, want+"\n"); err != nil {
			return ds, fmt.Errorf("write stdin: %w", err)
		}
		if err := await(ctx, got, want, 5*time.Second); err != nil {
			return ds, err
		}
		if i >= 3 { // three warm-up lines
			ds = append(ds, time.Since(t0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ds, nil
}

func await(ctx context.Context, got <-chan string, want string, limit time.Duration) error {
	timeout := time.After(limit)
	for {
		select {
		case line, ok := <-got:
			if !ok {
				return errors.New("attach stream ended before the line came back")
			}
			if line == want {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("line written on stdin did not come back within %s", limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
