package main

import (
	"context"
	"fmt"
)

const volumeMiB = 100

// benchVolume: 100 MiB written to a named volume by one container and read back by the next, as throughput
// (MiB/s). Each figure is the `docker run --rm` doing the I/O less the median of the same run doing nothing on the
// same volume, so the container's own start is not counted. On runsock locally the volume is gcpsim's bind of the
// bucket's directory: the figure is runsock's path, not Cloud Storage FUSE's (see docs/volumes.md).
func benchVolume(ctx context.Context, e *env) []row {
	reps := 3
	type result struct{ write, read figure }
	measure := func(s *side) result {
		vol := "bench-" + e.id
		if _, err := s.docker(ctx, "volume", "create", "--label", s.label, vol); err != nil {
			return result{failed(err), failed(err)}
		}
		defer s.docker(context.WithoutCancel(ctx), "volume", "rm", "-f", vol)
		run := func(script string) (float64, error) {
			d, err := s.timed(ctx, "run", "--rm", "--label", s.label, "-v", vol+":/v", s.image, "sh", "-c", script)
			return d.Seconds(), err
		}
		var base []float64
		for range reps {
			d, err := run("true")
			if err != nil {
				return result{failed(err), failed(err)}
			}
			base = append(base, d)
		}
		b := quantile(base, 0.5)
		r := result{write: figure{unit: "MiB/s"}, read: figure{unit: "MiB/s"}}
		for range reps {
			d, err := run(fmt.Sprintf("head -c %d /dev/zero > /v/big", volumeMiB<<20))
			if err != nil {
				r.write.err = err
				break
			}
			r.write.samples = append(r.write.samples, volumeMiB/max(d-b, 0.001))
			d, err = run(fmt.Sprintf("test $(cat /v/big | wc -c) -eq %d", volumeMiB<<20))
			if err != nil {
				r.read.err = err
				break
			}
			r.read.samples = append(r.read.samples, volumeMiB/max(d-b, 0.001))
		}
		return r
	}
	ref, rs := measure(e.reference), measure(e.runsock)
	name := fmt.Sprintf("%d MiB through a named volume", volumeMiB)
	return []row{
		{name: name + fmt.Sprintf(", written by one container (MiB/s, %d runs, less a run doing nothing)", reps), runsock: rs.write, reference: ref.write},
		{name: name + fmt.Sprintf(", read by the next (MiB/s, %d runs, less a run doing nothing)", reps), runsock: rs.read, reference: ref.read},
	}
}
