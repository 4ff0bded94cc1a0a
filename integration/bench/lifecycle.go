package main

import (
	"context"
	"fmt"
	"time"
)

// benchExec: `docker exec c true` on a running container, n times after a warm-up.
func benchExec(ctx context.Context, e *env) []row {
	measure := func(s *side) figure {
		id, err := s.runDetached(ctx, nil, "sleep", "3600")
		if err != nil {
			return failed(err)
		}
		defer s.remove(context.WithoutCancel(ctx), id)
		return durations(repeat(ctx, e.n, func(ctx context.Context) (time.Duration, error) {
			return s.timed(ctx, "exec", id, "true")
		}))
	}
	return []row{{name: fmt.Sprintf("`docker exec c true` (CLI wall time, n=%d)", e.n), runsock: measure(e.runsock),
		reference: measure(e.reference), target: "≤ 1.5× reference", judge: ratioAtMost(1.5)}}
}

// benchRun: `docker run --rm IMAGE true` wall time, and runsock's overhead beyond what the same task costs on the
// engine gcpsim runs it on (the reference engine is that engine).
func benchRun(ctx context.Context, e *env) []row {
	runs := max(e.n/2, 3)
	measure := func(s *side) figure {
		return durations(repeat(ctx, runs, func(ctx context.Context) (time.Duration, error) {
			return s.timed(ctx, "run", "--rm", "--label", s.label, s.image, "true")
		}))
	}
	rs, ref := measure(e.runsock), measure(e.reference)
	over := figure{unit: "ms", err: rs.err}
	if rs.err == nil && ref.err != nil {
		over.err = fmt.Errorf("reference: %w", ref.err)
	}
	if over.err == nil && rs.ok() {
		base := ref.median()
		for _, x := range rs.samples {
			over.samples = append(over.samples, x-base)
		}
	}
	return []row{
		{name: fmt.Sprintf("`docker run --rm alpine true` (CLI wall time, n=%d)", runs), runsock: rs, reference: ref},
		{name: "control-plane overhead of `docker run --rm` (runsock − reference median)", runsock: over,
			reference: failed(errNotApplicable), target: "≤ 150 ms", judge: absolute(150, 0)},
	}
}
