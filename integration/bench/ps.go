package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// benchPs: with e.containers created (not started) containers, `docker ps -a` and `docker inspect` of one, through
// the API (the figure the targets are about) and through the CLI (what a user waits for, CLI start-up included).
func benchPs(ctx context.Context, e *env) []row {
	type result struct{ create, list, inspect, cliList, cliInspect figure }
	measure := func(s *side) result {
		var r result
		t0 := time.Now()
		ids, err := s.createMany(ctx, e.containers)
		r.create = figure{unit: "containers/s", err: err}
		if err == nil {
			r.create.samples = []float64{float64(len(ids)) / time.Since(t0).Seconds()}
		} else {
			return result{r.create, failed(err), failed(err), failed(err), failed(err)}
		}
		one := ids[len(ids)/2]
		r.list = durations(repeat(ctx, e.n, func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			res, err := s.api.ContainerList(ctx, client.ContainerListOptions{All: true})
			if err == nil && len(res.Items) < e.containers {
				err = fmt.Errorf("ps -a listed %d containers, want at least %d", len(res.Items), e.containers)
			}
			return time.Since(t), err
		}))
		r.inspect = durations(repeat(ctx, e.n, func(ctx context.Context) (time.Duration, error) {
			t := time.Now()
			_, err := s.api.ContainerInspect(ctx, one, client.ContainerInspectOptions{})
			return time.Since(t), err
		}))
		r.cliList = durations(repeat(ctx, e.n, func(ctx context.Context) (time.Duration, error) {
			return s.timed(ctx, "ps", "-a")
		}))
		r.cliInspect = durations(repeat(ctx, e.n, func(ctx context.Context) (time.Duration, error) {
			return s.timed(ctx, "inspect", one)
		}))
		return r
	}
	rs := measure(e.runsock)
	ref := measure(e.reference)
	n := e.containers
	return []row{
		{name: fmt.Sprintf("`docker create` × %d through the Go SDK, 16 at a time (setup)", n), runsock: rs.create, reference: ref.create},
		{name: fmt.Sprintf("`ps -a` with %d containers (API, n=%d)", n, e.n), runsock: rs.list, reference: ref.list,
			target: "≤ 100 ms", judge: absolute(100, 0)},
		{name: fmt.Sprintf("`inspect` of one of %d containers (API, n=%d)", n, e.n), runsock: rs.inspect, reference: ref.inspect,
			target: "≤ 20 ms", judge: absolute(20, 0)},
		{name: fmt.Sprintf("`docker ps -a` with %d containers (CLI wall time)", n), runsock: rs.cliList, reference: ref.cliList},
		{name: fmt.Sprintf("`docker inspect` of one of %d containers (CLI wall time)", n), runsock: rs.cliInspect, reference: ref.cliInspect},
	}
}

// createMany creates n labelled containers running `true`, 16 at a time.
func (s *side) createMany(ctx context.Context, n int) ([]string, error) {
	k, v, _ := strings.Cut(s.label, "=")
	ids := make([]string, n)
	err := parallel(ctx, 16, n, func(ctx context.Context, i int) error {
		res, err := s.api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: s.image, Cmd: []string{"true"}, Labels: map[string]string{k: v}},
		})
		ids[i] = res.ID
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return ids, nil
}

// parallel calls f(i) for i in [0, n) on k workers; it stops handing out work at the first error and returns it,
// with how many calls failed.
func parallel(ctx context.Context, k, n int, f func(ctx context.Context, i int) error) error {
	var next, failures atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil || failures.Load() > 0 {
					return
				}
				if err := f(ctx, i); err != nil {
					failures.Add(1)
					once.Do(func() { first = err })
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("%w (%d failed)", first, failures.Load())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}
