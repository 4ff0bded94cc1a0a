package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	netMiB   = 128 // the file fetched for throughput
	netConns = 50  // connections per latency sample
	netPort  = 8080
)

// benchNetwork: two containers on a user-defined network — connection setup (one small HTTP fetch per new
// connection, by name) and throughput (one 128 MiB fetch) from one to the other, beside the same on the reference
// engine; and the control plane's CPU and memory while it relays. Timings are docker exec wall times less the wall
// time of `docker exec c true` on the same side (the exec's own cost), and connection setup less the same loop
// without connections (the processes' own cost), so they are of the network only.
//
// The client is busybox nc sending an HTTP/1.0 request (the server closes the connection after the body, which ends
// nc), not busybox wget: the test image's wget dies of SIGSEGV (exit 139) on a user-defined network of runsock
// (integration/e2e's fetch says the same), and both sides must run the same client.
func benchNetwork(ctx context.Context, e *env) []row {
	type result struct {
		setup, tput figure
		cpu         float64 // control-plane CPU seconds during the throughput runs
		feCPU       float64 // gcpsim's front ends' (Google's front end, which both agents' links cross)
		secs        float64 // their wall time
		rssPeak     float64
		rssBase     float64
	}
	measure := func(s *side) (r result) {
		r.setup, r.tput = figure{unit: "ms"}, figure{unit: "MiB/s"}
		fail := func(err error) result {
			r.setup.err, r.tput.err = err, err
			return r
		}
		net := "bench-" + e.id
		if _, err := s.docker(ctx, "network", "create", "--label", s.label, net); err != nil {
			return fail(err)
		}
		defer s.docker(context.WithoutCancel(ctx), "network", "rm", net)
		srv, err := s.runDetached(ctx, []string{"--network", net, "--network-alias", "srv"}, "sh", "-c",
			fmt.Sprintf("mkdir -p /tmp/www && echo x > /tmp/www/x && dd if=/dev/zero of=/tmp/www/big bs=1048576 count=%d 2>/dev/null && exec httpd -f -p %d -h /tmp/www", netMiB, netPort))
		if err != nil {
			return fail(err)
		}
		cli, err := s.runDetached(ctx, []string{"--network", net}, "sleep", "3600")
		if err != nil {
			s.remove(context.WithoutCancel(ctx), srv)
			return fail(err)
		}
		defer s.remove(context.WithoutCancel(ctx), srv, cli)
		// fetch prints the byte count of the whole response (headers included) to /x or /big.
		fetch := func(path string) string {
			return fmt.Sprintf(`printf 'GET /%s HTTP/1.0\r\n\r\n' | nc srv %d | wc -c`, path, netPort)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			out, err := s.docker(ctx, "exec", cli, "sh", "-c", fetch("big"))
			if n, _ := strconv.Atoi(strings.TrimSpace(out)); err == nil && n > netMiB<<20 {
				break
			} else if time.Now().After(deadline) {
				return fail(fmt.Errorf("the server never answered in full (%q): %v", strings.TrimSpace(out), err))
			}
			time.Sleep(500 * time.Millisecond)
		}
		base, err := repeat(ctx, 5, func(ctx context.Context) (time.Duration, error) { return s.timed(ctx, "exec", cli, "true") })
		if err != nil {
			return fail(err)
		}
		execCost := medianDuration(base)
		// The same loop with cat in nc's place starts as many processes and connects nowhere: its time (exec
		// included) is subtracted, so what remains is the connection — name lookup, connect, request, answer, close.
		loop := func(fetch string) string {
			return fmt.Sprintf("i=0; while [ $i -lt %d ]; do [ $(%s) -gt 2 ] || exit 1; i=$((i+1)); done", netConns, fetch)
		}
		dry, err := repeat(ctx, 3, func(ctx context.Context) (time.Duration, error) {
			return s.timed(ctx, "exec", cli, "sh", "-c", loop(strings.Replace(fetch("x"), fmt.Sprintf("nc srv %d", netPort), "cat", 1)))
		})
		if err != nil {
			return fail(fmt.Errorf("the loop without connections: %w", err))
		}
		dryCost := medianDuration(dry)
		ds, err := repeat(ctx, max(e.n/4, 3), func(ctx context.Context) (time.Duration, error) {
			return s.timed(ctx, "exec", cli, "sh", "-c", loop(fetch("x")))
		})
		for _, d := range ds {
			r.setup.samples = append(r.setup.samples, float64(max(d-dryCost, 0))/float64(time.Millisecond)/netConns)
		}
		r.setup.err = err
		cpuBefore, _ := cpuSeconds(e.procs["controlplane"])
		feBefore, _ := cpuSeconds(e.procs["frontends"])
		r.rssBase, _ = vmRSS(e.procs["controlplane"])
		r.rssPeak = r.rssBase
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if v, err := vmRSS(e.procs["controlplane"]); err == nil && v > r.rssPeak {
					r.rssPeak = v
				}
			}
		}()
		t0 := time.Now()
		for range 3 {
			t0 := time.Now()
			out, err := s.docker(ctx, "exec", cli, "sh", "-c", fetch("big"))
			d := time.Since(t0)
			if n, _ := strconv.Atoi(strings.TrimSpace(out)); err == nil && n <= netMiB<<20 {
				err = fmt.Errorf("a short fetch: %s bytes", strings.TrimSpace(out))
			}
			if err != nil {
				r.tput.err = err
				break
			}
			r.tput.samples = append(r.tput.samples, netMiB/max(d-execCost, time.Millisecond).Seconds())
		}
		r.secs = time.Since(t0).Seconds()
		close(stop)
		<-done
		cpuAfter, err := cpuSeconds(e.procs["controlplane"])
		if err == nil {
			r.cpu = cpuAfter - cpuBefore
		}
		if feAfter, err := cpuSeconds(e.procs["frontends"]); err == nil {
			r.feCPU = feAfter - feBefore
		}
		return r
	}
	ref := measure(e.reference)
	e.procs = devPids(e.pidDir)
	rs := measure(e.runsock)
	rows := []row{
		{name: fmt.Sprintf("connection setup + small HTTP fetch between two containers on a network (per connection, %d per sample)", netConns),
			runsock: rs.setup, reference: ref.setup},
		{name: fmt.Sprintf("throughput between two containers on a network (%d MiB fetch, MiB/s, 3 runs)", netMiB),
			runsock: rs.tput, reference: ref.tput},
	}
	if rs.tput.ok() && rs.secs > 0 {
		mibps := float64(netMiB*len(rs.tput.samples)) / rs.secs
		rows = append(rows,
			row{name: "controlplane CPU per MiB/s relayed (CPU % of one core ÷ MiB/s, over the throughput runs)",
				runsock: figure{unit: "%/(MiB/s)", samples: []float64{100 * rs.cpu / rs.secs / mibps}}, reference: failed(errNotApplicable)},
			row{name: "gcpsim's front ends' CPU per MiB/s relayed (locally, Google's front end: TLS and HTTP/2 of both agents' links)",
				runsock: figure{unit: "%/(MiB/s)", samples: []float64{100 * rs.feCPU / rs.secs / mibps}}, reference: failed(errNotApplicable)},
			row{name: "controlplane RSS while relaying (peak − baseline)",
				runsock:   figure{unit: "MiB", samples: []float64{rs.rssPeak - rs.rssBase}, note: fmt.Sprintf("baseline %.1f", rs.rssBase)},
				reference: failed(errNotApplicable)})
	}
	return rows
}

func medianDuration(ds []time.Duration) time.Duration {
	f := durations(ds, nil)
	return time.Duration(f.median() * float64(time.Millisecond))
}

// cpuSeconds is a process's user + system CPU time from /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func cpuSeconds(pid int) (float64, error) {
	if pid == 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return (ut + st) / 100, nil
}
