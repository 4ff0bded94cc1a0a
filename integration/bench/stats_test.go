package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ten := []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}
	for _, tc := range []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"median of ten is the fifth", ten, 0.5, 5},
		{"p99 of ten is the largest", ten, 0.99, 10},
		{"p10 of ten is the smallest", ten, 0.1, 1},
		{"single sample", []float64{42}, 0.99, 42},
		{"empty", nil, 0.5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.xs, tc.q); got != tc.want {
				t.Fatalf("quantile(%v, %v) = %v, want %v", tc.xs, tc.q, got, tc.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    figure
		want string
	}{
		{"durations", durations([]time.Duration{2 * time.Millisecond, 4 * time.Millisecond, 120 * time.Millisecond}, nil), "4.00 / 120 ms"},
		{"single value", figure{samples: []float64{512.5}, unit: "MiB/s"}, "512 MiB/s"},
		{"error keeps the first line, table-safe", failed(errors.New("exec | failed\nstack")), "n/a (error: exec / failed)"},
		{"no samples is an error", durations(nil, nil), "n/a (error: no samples)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.cell(); got != tc.want {
				t.Fatalf("cell() = %q, want %q", got, tc.want)
			}
		})
	}
	long := failed(errors.New(strings.Repeat("x", 200))).cell()
	if n := len([]rune(long)); n > 110 {
		t.Fatalf("long error cell has %d runes: %q", n, long)
	}
}

func TestCLIError(t *testing.T) {
	for _, tc := range []struct{ name, stderr, want string }{
		{"daemon answer after a log line", "time=x level=error msg=\"Can't add file\"\nError response from daemon: exec needs the agent\n", "exec needs the agent"},
		{"docker run prefix", "docker: Error response from daemon: No such image: x.\n\nRun 'docker run --help'", "No such image: x."},
		{"no daemon answer keeps the first line", "\nunknown flag: --x\nSee 'docker --help'.", "unknown flag: --x"},
		{"empty stderr names the exit", "", "exit status 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cliError(tc.stderr, errors.New("exit status 1")); got != tc.want {
				t.Fatalf("cliError = %q, want %q", got, tc.want)
			}
		})
	}
}
