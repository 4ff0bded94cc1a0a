package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	rows := benchBind(ctx, e)
	return append([]row{
		{name: name + fmt.Sprintf(", written by one container (MiB/s, %d runs, less a run doing nothing)", reps), runsock: rs.write, reference: ref.write},
		{name: name + fmt.Sprintf(", read by the next (MiB/s, %d runs, less a run doing nothing)", reps), runsock: rs.read, reference: ref.read},
	}, rows...)
}

// benchBind: 100 MiB through a bind of a directory of this machine: written inside and back in the directory when
// `docker run` returns (on runsock: staged, mounted from the volumes bucket, written back by localproxy before the
// wait answers), and read inside from a bind holding it (on runsock: packed and staged at create, then read through
// the mount). Each figure is the run less the median of the same run doing nothing with an empty bind.
func benchBind(ctx context.Context, e *env) []row {
	reps := 3
	type result struct{ write, read figure }
	measure := func(s *side) result {
		root, err := os.MkdirTemp("", "runsock-bench-bind")
		if err != nil {
			return result{failed(err), failed(err)}
		}
		defer os.RemoveAll(root)
		empty, out, full := filepath.Join(root, "empty"), filepath.Join(root, "out"), filepath.Join(root, "full")
		for _, d := range []string{empty, out, full} {
			os.MkdirAll(d, 0o777)
		}
		big := filepath.Join(full, "big")
		if err := os.WriteFile(big, make([]byte, volumeMiB<<20), 0o644); err != nil {
			return result{failed(err), failed(err)}
		}
		run := func(dir, script string) (float64, error) {
			d, err := s.timed(ctx, "run", "--rm", "--label", s.label, "-v", dir+":/b", s.image, "sh", "-c", script)
			return d.Seconds(), err
		}
		var base []float64
		for range reps {
			d, err := run(empty, "true")
			if err != nil {
				return result{failed(err), failed(err)}
			}
			base = append(base, d)
		}
		b := quantile(base, 0.5)
		r := result{write: figure{unit: "MiB/s"}, read: figure{unit: "MiB/s"}}
		for range reps {
			os.Remove(filepath.Join(out, "big"))
			d, err := run(out, fmt.Sprintf("head -c %d /dev/zero > /b/big", volumeMiB<<20))
			if err == nil {
				if fi, serr := os.Stat(filepath.Join(out, "big")); serr != nil || fi.Size() != volumeMiB<<20 {
					err = fmt.Errorf("the file is not back in the directory after the run: %v", serr)
				}
			}
			if err != nil {
				r.write.err = err
				break
			}
			r.write.samples = append(r.write.samples, volumeMiB/max(d-b, 0.001))
			d, err = run(full, fmt.Sprintf("test $(cat /b/big | wc -c) -eq %d", volumeMiB<<20))
			if err != nil {
				r.read.err = err
				break
			}
			r.read.samples = append(r.read.samples, volumeMiB/max(d-b, 0.001))
		}
		return r
	}
	ref, rs := measure(e.reference), measure(e.runsock)
	name := fmt.Sprintf("%d MiB through a bind of a local directory", volumeMiB)
	return []row{
		{name: name + fmt.Sprintf(", written inside and back in the directory when run returns (MiB/s, %d runs, less a run doing nothing)", reps), runsock: rs.write, reference: ref.write},
		{name: name + fmt.Sprintf(", read inside, staging included (MiB/s, %d runs, less a run doing nothing)", reps), runsock: rs.read, reference: ref.read},
	}
}
