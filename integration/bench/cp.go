package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

const cpMiB = 256

// benchCp: `docker cp` of a 256 MiB file into a running container and back out, as throughput (MiB/s), and the
// resident memory of the control plane and localproxy while runsock's copies run (streamed ⇒ flat).
func benchCp(ctx context.Context, e *env) []row {
	dir, err := os.MkdirTemp("", "runsock-bench-cp-")
	if err != nil {
		return []row{{name: "`docker cp` 256 MiB", runsock: failed(err), reference: failed(err)}}
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "big")
	if err := randomFile(src, cpMiB<<20); err != nil {
		return []row{{name: "`docker cp` 256 MiB", runsock: failed(err), reference: failed(err)}}
	}
	reps := 3
	type result struct{ in, out figure }
	measure := func(s *side) result {
		id, err := s.runDetached(ctx, nil, "sleep", "3600")
		if err != nil {
			return result{failed(err), failed(err)}
		}
		defer s.remove(context.WithoutCancel(ctx), id)
		r := result{in: figure{unit: "MiB/s"}, out: figure{unit: "MiB/s"}}
		for i := range reps {
			d, err := s.timed(ctx, "cp", src, id+":/tmp/big")
			if err != nil {
				r.in.err = err
				break
			}
			r.in.samples = append(r.in.samples, cpMiB/d.Seconds())
			dst := filepath.Join(dir, fmt.Sprintf("%s-out-%d", s.name, i))
			d, err = s.timed(ctx, "cp", id+":/tmp/big", dst)
			if err == nil {
				err = sameSize(dst, cpMiB<<20)
			}
			os.Remove(dst)
			if err != nil {
				r.out.err = err
				break
			}
			r.out.samples = append(r.out.samples, cpMiB/d.Seconds())
		}
		if r.in.err != nil && r.out.err == nil && len(r.out.samples) == 0 {
			r.out.err = fmt.Errorf("needs the copy in: %w", r.in.err)
		}
		return r
	}
	ref := measure(e.reference)
	watch := watchRSS(devPids(e.pidDir)) // again: the stack may have been restarted since the start
	rs := measure(e.runsock)
	mem := watch()
	name := fmt.Sprintf("`docker cp` %d MiB", cpMiB)
	rows := []row{
		{name: name + fmt.Sprintf(" into a container (MiB/s, %d runs)", reps), runsock: rs.in, reference: ref.in,
			target: "≥ 0.5× reference", judge: ratioAtLeast(0.5)},
		{name: name + fmt.Sprintf(" out of a container (MiB/s, %d runs)", reps), runsock: rs.out, reference: ref.out,
			target: "≥ 0.5× reference", judge: ratioAtLeast(0.5)},
	}
	return append(rows, mem...)
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func sameSize(path string, size int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("copied out: %w", err)
	}
	if fi.Size() != size {
		return fmt.Errorf("copied out %d bytes, want %d", fi.Size(), size)
	}
	return nil
}

// rssLimit is how much a process's resident memory may grow while 256 MiB pass through it and still count as flat.
const rssLimit = 64

// watchRSS samples VmRSS of each process every 20 ms until the returned func is called, which returns one row per
// process: "baseline → peak MiB", judged flat when the peak is within rssLimit MiB of the baseline.
func watchRSS(procs map[string]int) func() []row {
	type track struct {
		name       string
		pid        int
		base, peak float64
		err        error
		gone       bool // the process ended while we watched (restarted by someone)
	}
	var ts []*track
	for _, name := range []string{"controlplane", "localproxy"} {
		t := &track{name: name, pid: procs[name]}
		t.base, t.err = vmRSS(t.pid)
		t.peak = t.base
		ts = append(ts, t)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, t := range ts {
				v, err := vmRSS(t.pid)
				switch {
				case err != nil && t.err == nil:
					t.gone = true
				case err == nil && v > t.peak:
					t.peak = v
				}
			}
		}
	}()
	return func() []row {
		close(stop)
		<-done
		var rows []row
		for _, t := range ts {
			f := figure{unit: "MiB", err: t.err, samples: []float64{t.peak}}
			if t.err == nil {
				f.note = fmt.Sprintf("baseline %s, +%s", num(t.base), num(t.peak-t.base))
				if hwm, err := procStatus(t.pid, "VmHWM"); err == nil {
					f.note += fmt.Sprintf("; lifetime VmHWM %s", num(hwm))
				}
				if t.gone {
					f.note += "; the process exited during the runs"
				}
			}
			base := t.base
			rows = append(rows, row{name: fmt.Sprintf("%s peak RSS during runsock's `docker cp` runs", t.name),
				runsock: f, reference: failed(errNotApplicable), target: fmt.Sprintf("flat (≤ +%d MiB)", rssLimit),
				judge: func(r row) (bool, bool) {
					if !r.runsock.ok() {
						return false, false
					}
					return r.runsock.median()-base <= rssLimit, true
				}})
		}
		return rows
	}
}
