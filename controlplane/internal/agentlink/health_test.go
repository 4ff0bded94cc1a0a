package agentlink

import (
	"context"
	"strings"
	"testing"

	"github.com/runsock/runsock/linkproto"
)

type healthRecords []linkproto.Health

func (r *healthRecords) RecordHealth(_ context.Context, id, execution string, h linkproto.Health) {
	*r = append(*r, h)
}

// A Health frame reaches the recorder for the stream's run; a malformed one, an unknown status or an oversized log
// is dropped; an output beyond the agent's cap is cut, so a record never grows past it.
func TestHealthFrame(t *testing.T) {
	var got healthRecords
	h := New(Options{Health: &got})
	send := func(meta []byte) {
		h.controlFrame(context.Background(), "c1", "j-abc12", &linkproto.Frame{Type: linkproto.FrameHealth, Meta: meta})
	}
	send(linkproto.EncodeMeta(linkproto.Health{Status: linkproto.HealthHealthy, Log: []linkproto.HealthResult{{Output: strings.Repeat("a", 10000)}}}))
	send([]byte("{"))
	send(linkproto.EncodeMeta(linkproto.Health{Status: "sick"}))
	send(linkproto.EncodeMeta(linkproto.Health{Status: linkproto.HealthStarting, Log: make([]linkproto.HealthResult, linkproto.HealthLogMax+1)}))
	if len(got) != 1 {
		t.Fatalf("%d reports recorded, want only the well-formed one", len(got))
	}
	if out := got[0].Log[0].Output; len(out) != maxReportedOutput+3 || !strings.HasSuffix(out, "...") {
		t.Errorf("an oversized output is %d bytes, want cut at %d with \"...\"", len(out), maxReportedOutput)
	}
}
