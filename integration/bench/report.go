package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// machine is what docs/benchmarks.md states beside the figures so they can be compared with a later run.
type machine struct {
	date, cpu, memory, kernel, commit string
	nproc                             int
	runsockVersion, referenceVersion  string
	ingestionDelay, startLatency      string
	n, containers                     int
	took                              time.Duration
	reruns                            string
}

func describeMachine(ctx context.Context, e *env, took time.Duration) machine {
	m := machine{date: time.Now().UTC().Format("2006-01-02 15:04 MST"), nproc: runtime.NumCPU(), n: e.n,
		containers: e.containers, took: took.Round(time.Second), reruns: "none"}
	if len(e.reruns) > 0 {
		m.reruns = strings.Join(e.reruns, ", ")
	}
	m.cpu = firstField("/proc/cpuinfo", "model name")
	if kb := firstField("/proc/meminfo", "MemTotal"); kb != "" {
		var v float64
		if _, err := fmt.Sscanf(kb, "%f", &v); err == nil {
			m.memory = fmt.Sprintf("%.1f GiB", v/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	m.runsockVersion = serverVersion(ctx, e.runsock)
	m.referenceVersion = serverVersion(ctx, e.reference)
	m.ingestionDelay = orUnknown(gcpsimFlag(e.procs["gcpsim"], "log-ingestion-delay"))
	m.startLatency = orUnknown(gcpsimFlag(e.procs["gcpsim"], "start-latency"))
	return m
}

func serverVersion(ctx context.Context, s *side) string {
	v, err := s.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "unknown (" + shortErr(err) + ")"
	}
	return fmt.Sprintf("%s (API %s)", v.Version, v.APIVersion)
}

// firstField returns the value of the first "key : value" line of a /proc file.
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown (gcpsim not found in .dev/pids)"
	}
	return s
}

func report(m machine, table string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Benchmarks

runsock against a local Docker Engine on the same machine. Produced by `+"`scripts/bench`"+` (the program is
`+"`integration/bench`"+`); replace this file with the output of a new run rather than editing figures by hand.

## Latest run

- date: %s, commit %s, took %s (-n %d, %d containers for ps)
- machine: %d CPUs (%s), %s memory, Linux %s — shared with other work while it ran
- runsock: %s, through localproxy → control plane → gcpsim → this machine's Docker Engine
- reference: %s, the same engine gcpsim runs tasks on
- gcpsim: log ingestion delay %s, task start latency %s
- benchmarks run again because someone restarted the shared control plane during them: %s

`, m.date, orDash(m.commit), m.took, m.n, m.containers, m.nproc, orDash(m.cpu), orDash(m.memory), orDash(m.kernel),
		m.runsockVersion, m.referenceVersion, m.ingestionDelay, m.startLatency, m.reruns)
	b.WriteString(table)
	b.WriteString(methods)
	return b.String()
}

const methods = `
Cells are median / p99 (nearest rank) unless a single value; ratio is runsock's median / the reference's. A cell
"n/a (error …)" is a measurement that failed on that side; the rest of the run went on.

## How each figure is measured

- **exec**: ` + "`docker exec c true`" + ` through the docker CLI (wall time, CLI start-up included on both sides) against a
  container running ` + "`sleep 3600`" + `, after one unmeasured warm-up.
- **line → logs -f / attach (one-way)**: a container prints ` + "`T <sec> <usec>`" + ` every 20 ms with the wall time read
  inside it (busybox ` + "`adjtimex`" + `; containers share the host's clock). The benchmark follows ` + "`logs -f`" + ` and an
  attach at the same time through the Go SDK and records arrival − stamp per line, skipping history and 5 warm-up
  lines. About 1 ms of it is awk printing the stamp.
- **stdin → cat → stdout (round trip)**: a ` + "`docker run -d -i alpine cat`" + ` container; the benchmark attaches with stdin
  and times each line until it comes back. An upper bound of the one-way figure (two hops plus the process).
- **run --rm**: ` + "`docker run --rm alpine true`" + ` through the CLI. The control-plane overhead is each runsock run minus
  the reference engine's median: gcpsim runs the task on that same engine, so the difference is what runsock adds
  (localproxy, control plane, Firestore, the Cloud Run Admin API, waiting for the exit) beyond the task's own start.
  gcpsim's start latency (above) is part of it when it is not 0s.
- **cp**: a 256 MiB random file, ` + "`docker cp`" + ` into ` + "`/tmp`" + ` of a running container and back out (size checked),
  3 times, as MiB/s. While runsock's copies run, VmRSS of the control plane and localproxy is sampled every 20 ms
  (PIDs from .dev/pids); the row shows the peak, the baseline before, and the process's lifetime VmHWM. "Flat" means
  the peak stays within 64 MiB of the baseline.
- **logs**: a container runs ` + "`seq 200000`" + ` (200,000 short lines, 1.3 MB) and exits; ` + "`docker logs`" + ` of it through the
  CLI, output counted, after one warm-up. Then a container waits for ` + "`/tmp/go`" + `, the benchmark follows its logs
  through the Go SDK, creates the file with ` + "`docker exec`" + `, and times the first line arriving to the 200,000th (the
  writer itself takes about 50 ms). Each line is its own entry and frame on both sides, so this is the cost per line.
- **ps / inspect**: 1,000 containers created (not started) through the Go SDK, 16 at a time, labelled
  ` + "`runsock.bench=<run id>`" + ` and removed at the end. ` + "`ps -a`" + ` (ContainerList all) and ` + "`inspect`" + ` of one are timed
  through the Go SDK — the figures the targets are about — and through the CLI for what a user waits for.
- **Firestore operations per run --rm**: the control plane counts reads, writes and queries (` + "`store.Store.Ops`" + `),
  but publishes the count nowhere (no endpoint, no log attribute), and the benchmark does not change the control
  plane. Needed: the control plane publishes the counter — an admin-only ` + "`GET /_runsock/debug/ops`" + ` (or expvar), or
  reads/writes/queries as attributes of each request's log line. The benchmark then reads it before and after a
  batch of ` + "`docker run --rm`" + ` and divides. Its own watchers (events, reconcile) count too, so a quiet stack is needed.
- **network**: two containers on a new user-defined network: a server (busybox httpd serving a 2-byte file and a
  128 MiB file, alias ` + "`srv`" + `) and a client. Connection setup: one ` + "`docker exec`" + ` runs 50 fetches of the small
  file in a row, each a new TCP connection by name (` + "`printf 'GET /x HTTP/1.0…' | nc srv 8080 | wc -c`" + `), n/4
  samples (at least 3), each sample's wall time less the median of the same loop with ` + "`cat`" + ` in nc's place (as
  many processes, no connection), divided by 50: name lookup, connect, request, answer and close. Throughput: the 128 MiB file fetched the same
  way 3 times (byte count checked), exec cost subtracted. While runsock's fetches run, the control plane's user +
  system CPU time (/proc/PID/stat) and VmRSS (/proc/PID/status, every 20 ms) are read: CPU per MiB/s is the percent
  of one core it used over those fetches divided by the MiB/s they moved. busybox nc itself is slow (on the host, no
  containers, it moved the 128 MiB at about 54 MiB/s using 2.1 s of CPU, where busybox wget took 0.6 s), so on a
  loaded machine it bounds both sides' throughput: the control plane's CPU per MiB/s is the relay's own figure.
`
