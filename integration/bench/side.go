package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// side is one Docker host under test: runsock (localproxy's socket) or the reference engine.
type side struct {
	name  string // "runsock" or "reference"
	host  string // unix:///…
	image string
	label string // runsock.bench=<run id>, on everything this run creates
	api   *client.Client
}

func newSide(name, host, image, label string) (*side, error) {
	c, err := client.New(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%s client for %s: %w", name, host, err)
	}
	return &side{name: name, host: host, image: image, label: label, api: c}, nil
}

// docker runs the docker CLI against this side and returns its stdout; the error carries stderr's first line.
func (s *side) docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", s.host}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %s", args[0], cliError(errb.String(), err))
	}
	return out.String(), nil
}

// timed runs the docker CLI once and returns its wall time.
func (s *side) timed(ctx context.Context, args ...string) (time.Duration, error) {
	t0 := time.Now()
	_, err := s.docker(ctx, args...)
	return time.Since(t0), err
}

// repeat times f n times after one unmeasured warm-up; it stops at the first error.
func repeat(ctx context.Context, n int, f func(context.Context) (time.Duration, error)) ([]time.Duration, error) {
	if _, err := f(ctx); err != nil {
		return nil, err
	}
	var ds []time.Duration
	for range n {
		if err := ctx.Err(); err != nil {
			return ds, err
		}
		d, err := f(ctx)
		if err != nil {
			return ds, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// runDetached starts a labelled container with `docker run -d [flags] image cmd…` and returns its ID.
func (s *side) runDetached(ctx context.Context, flags []string, cmd ...string) (string, error) {
	args := append([]string{"run", "-d", "--label", s.label}, flags...)
	args = append(append(args, s.image), cmd...)
	out, err := s.docker(ctx, args...)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	if id == "" {
		return "", errors.New("docker run -d printed no container ID")
	}
	return id, nil
}

// remove force-removes containers, ignoring errors: cleanup must not hide the figures.
func (s *side) remove(ctx context.Context, ids ...string) {
	for _, id := range ids {
		if id != "" {
			_, _ = s.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		}
	}
}

// cleanup removes every container carrying this run's label (or, if the label has no value, any value of it).
func (s *side) cleanup(ctx context.Context) (int, error) {
	res, err := s.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", s.label)})
	if err != nil {
		return 0, fmt.Errorf("%s: list labelled containers: %w", s.name, err)
	}
	ids := make([]string, 0, len(res.Items))
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return len(ids), parallel(ctx, 8, len(ids), func(ctx context.Context, i int) error {
		_, err := s.api.ContainerRemove(ctx, ids[i], client.ContainerRemoveOptions{Force: true})
		return err
	})
}

// cliError picks the telling line of the CLI's stderr: the daemon's answer if there is one (the CLI may log other
// lines before it), else the first line, else how the process ended.
func cliError(stderr string, err error) string {
	var first string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "Error response from daemon: "); i >= 0 {
			return line[i+len("Error response from daemon: "):]
		}
		if first == "" {
			first = line
		}
	}
	if first == "" {
		return err.Error()
	}
	return first
}
