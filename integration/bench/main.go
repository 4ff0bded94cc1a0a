package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// env is what every benchmark gets: both sides and the settings.
type env struct {
	runsock, reference *side
	n                  int            // repetitions for the repeated measurements
	containers         int            // how many containers the ps benchmark creates
	procs              map[string]int // PIDs of the local stack's processes, read at start
	pidDir             string
	id                 string   // this run's ID, in labels and tokens
	reruns             []string // benchmarks run again because the control plane restarted under them
}

type bench struct {
	name string
	run  func(context.Context, *env) []row
}

var benches = []bench{
	{"exec", benchExec},
	{"latency", benchLatency},
	{"run", benchRun},
	{"cp", benchCp},
	{"volume", benchVolume},
	{"ps", benchPs},
	{"fsops", benchFirestoreOps},
	{"network", benchNetwork},
	{"logs", benchLogs},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 20, "repetitions of each repeated measurement (run --rm uses n/2)")
	only := flag.String("only", "", "comma-separated benchmarks to run: "+names())
	out := flag.String("out", "", "also write the report (machine, date, gcpsim settings, table) to this markdown file")
	refDefault := os.Getenv("RUNSOCK_BENCH_REFERENCE")
	if refDefault == "" {
		refDefault = "unix:///var/run/docker.sock"
	}
	reference := flag.String("reference", refDefault, "the reference Docker Engine (env RUNSOCK_BENCH_REFERENCE)")
	image := flag.String("image", "alpine:latest", "image both sides run")
	containers := flag.Int("containers", 1000, "containers the ps benchmark creates")
	pidDir := flag.String("pids", ".dev/pids", "where scripts/dev records PIDs (memory figures, gcpsim settings)")
	sweep := flag.Bool("cleanup", false, "only remove every container a benchmark run left behind (label runsock.bench) on both sides")
	flag.Parse()

	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		return fmt.Errorf("DOCKER_HOST is not set: source .dev/env (or use scripts/bench)")
	}
	if host == *reference {
		return fmt.Errorf("DOCKER_HOST and the reference engine are the same (%s)", host)
	}
	selected, err := selectBenches(*only)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	id := runID()
	label := "runsock.bench=" + id
	e := &env{n: *n, containers: *containers, procs: devPids(*pidDir), pidDir: *pidDir, id: id}
	if e.runsock, err = newSide("runsock", host, *image, label); err != nil {
		return err
	}
	if e.reference, err = newSide("reference", *reference, *image, label); err != nil {
		return err
	}
	if *sweep {
		e.runsock.label, e.reference.label = "runsock.bench", "runsock.bench"
		cleanup(e)
		return nil
	}
	defer cleanup(e)

	started := time.Now()
	var rows []row
	for _, b := range selected {
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "bench: %s …\n", b.name)
		rs, reruns := runStable(ctx, e, b)
		rows = append(rows, rs...)
		if reruns > 0 {
			e.reruns = append(e.reruns, fmt.Sprintf("%s ×%d", b.name, reruns))
		}
		fmt.Fprintf(os.Stderr, "bench: %s done in %s\n", b.name, time.Since(t0).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	table := markdown(rows)
	fmt.Print(table)
	fmt.Fprintf(os.Stderr, "bench: total %s\n", time.Since(started).Round(time.Second))
	if *out != "" {
		m := describeMachine(context.WithoutCancel(ctx), e, time.Since(started))
		if err := os.WriteFile(*out, []byte(report(m, table)), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return ctx.Err()
}

// cleanup removes whatever this run left behind on both sides, even after an interrupt, retrying (after waiting for
// a ready control plane) when someone's restart of the shared stack cuts it short.
func cleanup(e *env) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, s := range []*side{e.runsock, e.reference} {
		var n int
		var err error
		for range 3 {
			if s == e.runsock {
				waitReady(ctx, e)
			}
			if n, err = s.cleanup(ctx); err == nil {
				break
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup %s: %v (run with -cleanup later)\n", s.name, err)
		} else if n > 0 {
			fmt.Fprintf(os.Stderr, "bench: removed %d containers from %s\n", n, s.name)
		}
		s.api.Close()
	}
}

func selectBenches(only string) ([]bench, error) {
	if only == "" {
		return benches, nil
	}
	var out []bench
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, b := range benches {
			if b.name == strings.TrimSpace(name) {
				out, found = append(out, b), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-only: no benchmark %q (have %s)", name, names())
		}
	}
	return out, nil
}

func names() string {
	var ns []string
	for _, b := range benches {
		ns = append(ns, b.name)
	}
	return strings.Join(ns, ", ")
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
}
