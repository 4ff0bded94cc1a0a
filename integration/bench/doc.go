// Command bench measures runsock against a local Docker Engine on the same machine and prints one markdown table:
// for each figure of DESIGN.md's "Targets that shape the design now", runsock's median and p99, the reference
// engine's, their ratio, the target and whether it is met.
//
//	go run ./integration/bench [-n N] [-only NAME[,NAME]] [-out docs/benchmarks.md]
//
// runsock is the Docker host in DOCKER_HOST (localproxy's socket, from .dev/env); the reference engine is
// -reference, default $RUNSOCK_BENCH_REFERENCE or unix:///var/run/docker.sock. Both run the same image (-image,
// alpine:latest: on runsock it resolves to the test image, on the reference engine scripts/bench loads the same
// test image). The program never changes DOCKER_HOST: every docker CLI call names its host with -H.
//
// A measurement that fails (a feature runsock does not have yet, say) becomes "n/a (error …)" in its cell; the
// other rows still run. Everything the program creates carries the label runsock.bench=<run id> and is removed
// at the end, also on interrupt.
//
// Benchmarks (NAME for -only): exec, latency, run, cp, ps, fsops.
// It imports no runsock package: it sees runsock only as a Docker host, as a user would, plus the process table
// (.dev/pids) for the memory figures.
package main
