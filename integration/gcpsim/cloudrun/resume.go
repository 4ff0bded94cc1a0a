package cloudrun

import (
	"context"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
)

// A stopped gcpsim is an outage of Cloud Run's Admin API, not the loss of a data centre: the tasks it was running
// keep running, and the next gcpsim picks their executions up where the saved state left them.

// resume continues the executions a previous gcpsim left running (s.mu held, from New): every unfinished attempt
// whose container is still there is claimed for adoption (whether or not the saved state recorded its start); a
// started one whose container is gone is lost (the task fails, as when Cloud Run loses an instance); tasks not yet
// started run as usual. Containers nobody claimed are
// removed, then each execution is driven again.
func (s *Service) resume(a Adopter, now time.Time) {
	var names []string
	for _, e := range s.st.execs {
		if terminal(e) {
			continue
		}
		names = append(names, e.Name)
		for i := range int(e.TaskCount) {
			t := s.st.tasks[e.Name+"/tasks/"+taskID(execShort(e), i)]
			if t == nil || taskEnded(t) {
				continue
			}
			// A container that is there runs the attempt, even if the saved state had not yet recorded its start:
			// Cloud Run never runs a task's attempt again because its API was down.
			if a.Claim(execShort(e), i, int(t.Retried), t.ServiceAccount) {
				s.adopt[t.Name] = true
				continue
			}
			if attemptStarted(t) {
				s.loseTask(e, t, now)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a.RemoveUnclaimed(ctx)
	for _, name := range names {
		s.log.Info("resuming execution", "execution", name)
		s.start(name)
		if e := s.st.execs[name]; getCond(e.Conditions, condCompleted).GetExecutionReason() == runpb.Condition_CANCELLING {
			s.running[name](errCancelled)
		}
	}
}

// resumePoint says where runTask starts: the task's current attempt, and whether it is to be adopted. ok is false
// when the task has ended (a resumed execution's finished tasks).
func (s *Service) resumePoint(exec string, index int) (attempt int, adopt, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, t := s.task(exec, index)
	if t == nil || taskEnded(t) {
		return 0, false, false
	}
	adopt = s.adopt[t.Name]
	delete(s.adopt, t.Name)
	return int(t.Retried), adopt, true
}
