package agentsessions

import (
	"testing"
	"time"
)

func TestExecRecordsExpire(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	r := newExecRegistry()
	unstarted := &execRecord{id: "unstarted"}
	running := &execRecord{id: "running"}
	finished := &execRecord{id: "finished"}
	for _, e := range []*execRecord{unstarted, running, finished} {
		r.add(e, t0)
	}
	running.started, running.running = true, true
	finished.started, finished.ended = true, t0.Add(time.Minute)

	r.add(&execRecord{id: "a"}, t0.Add(execUnstartedKeep-time.Second))
	if len(r.m) != 4 {
		t.Fatalf("before any expiry: %d records, want 4", len(r.m))
	}
	r.add(&execRecord{id: "b"}, t0.Add(execUnstartedKeep+time.Second))
	if _, ok := r.m["unstarted"]; ok {
		t.Error("an exec created and never started outlived execUnstartedKeep")
	}
	if _, ok := r.m["running"]; !ok {
		t.Error("a running exec was dropped")
	}
	r.add(&execRecord{id: "c"}, t0.Add(time.Minute+execKeep+time.Second))
	if _, ok := r.m["finished"]; ok {
		t.Error("a finished exec outlived execKeep")
	}
	if _, ok := r.m["running"]; !ok {
		t.Error("a running exec was dropped")
	}
}
