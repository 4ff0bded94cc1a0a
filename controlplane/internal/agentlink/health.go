package agentlink

import (
	"context"

	"github.com/runsock/runsock/linkproto"
)

// HealthRecorder takes what agents report of their containers' healthchecks (containers.Service.RecordHealth,
// through main's adapter).
type HealthRecorder interface {
	// RecordHealth is called on the control stream's goroutine, one report of a container at a time, for the run
	// the stream was authenticated for.
	RecordHealth(ctx context.Context, containerID, execution string, h linkproto.Health)
}

// maxReportedOutput bounds a reported probe's output: the agent's cap plus room for Docker's timeout message.
const maxReportedOutput = linkproto.HealthOutputMax + 128

// healthFrame hands a Health frame to the recorder. A malformed one is dropped with a warning: the next probe's
// report carries the whole state again.
func (h *Hub) healthFrame(ctx context.Context, id, execution string, f *linkproto.Frame) {
	if h.opts.Health == nil {
		return
	}
	var rep linkproto.Health
	if err := linkproto.DecodeMeta(f.Meta, &rep); err != nil || len(rep.Log) > linkproto.HealthLogMax {
		h.log.Warn("bad health frame", "container", id, "error", err)
		return
	}
	switch rep.Status {
	case linkproto.HealthStarting, linkproto.HealthHealthy, linkproto.HealthUnhealthy:
	default:
		h.log.Warn("bad health frame", "container", id, "status", rep.Status)
		return
	}
	for i := range rep.Log { // the agent keeps to the cap (plus Docker's words around it); a record never grows past it
		if out := rep.Log[i].Output; len(out) > maxReportedOutput {
			rep.Log[i].Output = out[:maxReportedOutput] + "..."
		}
	}
	h.opts.Health.RecordHealth(ctx, id, execution, rep)
}
