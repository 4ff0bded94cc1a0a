package sessions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/agent/internal/pid1"
	"github.com/runsock/runsock/linkproto"
)

// Probes run real processes: exit code, stdout and stderr in one buffer cut at 4096 bytes, a timeout killing the
// probe's whole process group at once, a command that cannot start.
func TestProbe(t *testing.T) {
	r := pid1.NewReaper()
	defer r.Close()
	p := Prober{Server: &Server{Reaper: r}}
	ctx := context.Background()

	code, out, truncated, err := p.Probe(ctx, []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"})
	if err != nil || code != 3 || truncated || !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Errorf("probe: %d %q %v %v; want 3 with both streams", code, out, truncated, err)
	}
	code, out, truncated, err = p.Probe(ctx, []string{"/bin/sh", "-c", "head -c 5000 /dev/zero | tr '\\0' a"})
	if err != nil || code != 0 || !truncated || len(out) != linkproto.HealthOutputMax {
		t.Errorf("long output: %d, %d bytes, truncated %v, %v; want %d bytes and truncated", code, len(out), truncated, err, linkproto.HealthOutputMax)
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, out, _, err = p.Probe(tctx, []string{"/bin/sh", "-c", "echo begun; sleep 30 & sleep 30"})
	if took := time.Since(start); err != nil || took > 5*time.Second || out != "begun\n" {
		t.Errorf("timed-out probe: took %s, output %q, %v; want it killed with its children at once", took, out, err)
	}
	if _, _, _, err := p.Probe(ctx, []string{"/no/such/probe"}); err == nil || !strings.Contains(err.Error(), "OCI runtime exec failed") {
		t.Errorf("missing command: %v; want the exec's error", err)
	}
}
