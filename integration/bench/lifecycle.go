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

// benchRun: `docker run --rm IMAGE true` wall time, and runsock's overhead beyond the task's own life, two ways:
// against the reference engine's median (gcpsim runs the task on that engine), and per run against the task
// container as the engine saw it (its create → die events; the command carries a token to tell ours apart).
func benchRun(ctx context.Context, e *env) []row {
	runs := max(e.n/2, 3)
	measure := func(s *side, tokens *[]string) figure {
		return durations(repeat(ctx, runs, func(ctx context.Context) (time.Duration, error) {
			token := fmt.Sprintf("%s%s-%d", tokenPrefix, e.id, len(*tokens))
			*tokens = append(*tokens, token)
			return s.timed(ctx, "run", "--rm", "--label", s.label, s.image, "true", token)
		}))
	}
	var refTokens, tokens []string
	ref := measure(e.reference, &refTokens)
	tasks := watchTasks(ctx, e.reference)
	rs := measure(e.runsock, &tokens)
	own := tasks.stop()

	overRef := figure{unit: "ms", err: rs.err}
	if rs.err == nil && ref.err != nil {
		overRef.err = fmt.Errorf("reference: %w", ref.err)
	}
	if overRef.err == nil {
		for _, x := range rs.samples {
			overRef.samples = append(overRef.samples, x-ref.median())
		}
	}
	overTask := figure{unit: "ms", err: rs.err}
	if rs.err == nil {
		tokens = tokens[len(tokens)-len(rs.samples):] // the warm-up run is not a sample
		skipped := 0
		for i, token := range tokens {
			life, ok := own.lifeOf(token)
			if !ok {
				skipped++
				continue
			}
			overTask.samples = append(overTask.samples, rs.samples[i]-float64(life)/float64(time.Millisecond))
		}
		if skipped > 0 {
			overTask.note = fmt.Sprintf("%d runs without a task container seen", skipped)
		}
		if len(overTask.samples) == 0 {
			overTask.err = fmt.Errorf("no gcpsim task container with our command seen on the reference engine")
		}
	}
	return []row{
		{name: fmt.Sprintf("`docker run --rm alpine true` (CLI wall time, n=%d)", runs), runsock: rs, reference: ref},
		{name: "control-plane overhead of `docker run --rm`: runsock − reference median", runsock: overRef,
			reference: failed(errNotApplicable), target: "≤ 150 ms", judge: absolute(150, 0)},
		{name: "control-plane overhead of `docker run --rm`: runsock − the task container's create→die", runsock: overTask,
			reference: failed(errNotApplicable), target: "≤ 150 ms", judge: absolute(150, 0)},
	}
}
