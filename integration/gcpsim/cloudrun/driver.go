package cloudrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/runsock/runsock/integration/gcpsim/tasks"
)

// start runs an execution in its own goroutine (s.mu held).
func (s *Service) start(name string) {
	ctx, cancel := context.WithCancelCause(context.Background())
	s.running[name] = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.drive(ctx, name)
		s.mu.Lock()
		delete(s.running, name)
		s.mu.Unlock()
		cancel(nil)
	}()
}

// gone reports whether the execution's state must no longer be written.
func gone(ctx context.Context) bool {
	c := context.Cause(ctx)
	return errors.Is(c, tasks.ErrShutdown) || errors.Is(c, errDeleted)
}

func (s *Service) drive(ctx context.Context, name string) {
	s.mu.Lock()
	e := s.st.execs[name]
	if e == nil {
		s.mu.Unlock()
		return
	}
	count, par := int(e.TaskCount), int(e.Parallelism)
	now := time.Now()
	e.Conditions = setCond(e.Conditions, cond(condResourcesAvailable, runpb.Condition_CONDITION_SUCCEEDED, "Provisioned imported containers.", now))
	s.updated(e, now)
	s.mu.Unlock()

	if par == 0 {
		par = count
	}
	sem := make(chan struct{}, par)
	done := make(chan struct{}, count)
	started := 0
	for i := 0; i < count; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		started++
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			s.runTask(ctx, name, i)
		}()
	}
	for range started {
		<-done
	}
	if gone(ctx) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.st.execs[name]; e != nil {
		s.finalize(e, time.Now())
	}
}

func (s *Service) runTask(ctx context.Context, exec string, index int) {
	first, adopt, ok := s.resumePoint(exec, index)
	if !ok {
		return
	}
	for attempt := first; ; attempt++ {
		spec, maxRetries, ok := s.taskSpec(exec, index, attempt, adopt)
		if !ok {
			return
		}
		var res tasks.Result
		if adopt {
			res = s.runner.(Adopter).Adopt(ctx, spec, s.st.savedAt)
			adopt = false
		} else {
			res = s.runner.Run(ctx, spec, func(t time.Time) { s.taskStarted(exec, index, t) })
		}
		if gone(ctx) {
			return
		}
		retry := !res.Succeeded() && res.Outcome != tasks.Cancelled && attempt < maxRetries
		s.attemptEnded(exec, index, attempt, res, retry)
		if !retry {
			return
		}
	}
}

func (s *Service) task(exec string, index int) (*runpb.Execution, *runpb.Task) {
	e := s.st.execs[exec]
	if e == nil {
		return nil, nil
	}
	return e, s.st.tasks[exec+"/tasks/"+taskID(execShort(e), index)]
}

// taskSpec builds the attempt's spec and, unless it is adopted, marks the task scheduled.
func (s *Service) taskSpec(exec string, index, attempt int, adopted bool) (tasks.Spec, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, t := s.task(exec, index)
	if t == nil {
		return tasks.Spec{}, 0, false
	}
	loc, _, _ := s.parseName(exec, "jobs", "executions")
	c := t.Containers[0]
	nano, mem, _ := parseResources(c.GetResources().GetLimits())
	var env []string
	for _, v := range c.Env {
		env = append(env, v.Name+"="+v.GetValue())
	}
	if !adopted {
		now := time.Now()
		t.ScheduledTime = timestamppb.New(now)
		s.taskUpdated(t, now)
	}
	ms, merr := mounts(t, c, s.cfg.Buckets, t.ServiceAccount)
	startErr := ""
	if merr != nil {
		startErr = merr.Error()
	}
	return tasks.Spec{
		Mounts: ms, StartError: startErr,
		Project: loc.project, Region: loc.region, Job: e.Job, Execution: execShort(e),
		TaskIndex: index, TaskAttempt: attempt, TaskCount: int(e.TaskCount),
		ContainerName: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: env,
		WorkingDir: c.WorkingDir, NanoCPUs: nano, MemoryBytes: mem,
		Timeout: t.Timeout.AsDuration(), ServiceAccount: t.ServiceAccount,
	}, int(t.MaxRetries), true
}

func (s *Service) taskStarted(exec string, index int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, t := s.task(exec, index)
	if t == nil {
		return
	}
	t.StartTime = timestamppb.New(at)
	t.Conditions = setCond(t.Conditions, cond(condStarted, runpb.Condition_CONDITION_SUCCEEDED, "", at))
	t.Conditions = setCond(t.Conditions, cond(condCompleted, runpb.Condition_CONDITION_RECONCILING, "", at))
	s.taskUpdated(t, at)
	e.RunningCount++
	if e.StartTime == nil {
		e.StartTime = timestamppb.New(at)
		msg := "Started deployed execution in " + seconds(at.Sub(e.CreateTime.AsTime())) + "."
		e.Conditions = setCond(e.Conditions, cond(condStarted, runpb.Condition_CONDITION_SUCCEEDED, msg, at))
		e.Conditions = setCond(e.Conditions, cond(condCompleted, runpb.Condition_CONDITION_RECONCILING, "Waiting for execution to complete.", at))
	}
	s.updated(e, at)
}

// attemptEnded records the result of an attempt; retry says another follows.
func (s *Service) attemptEnded(exec string, index, attempt int, res tasks.Result, retry bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, t := s.task(exec, index)
	if t == nil {
		return
	}
	if !res.Started.IsZero() && e.RunningCount > 0 {
		e.RunningCount--
	}
	t.LastAttemptResult = attemptResult(res)
	now := res.Ended
	if retry {
		if attempt == 0 {
			e.RetriedCount++
		}
		t.Retried = int32(attempt + 1)
		s.taskUpdated(t, now)
		s.updated(e, now)
		return
	}
	s.endTask(e, t, res.Outcome, res.Message, now)
}

// endTask puts a task in its final phase and counts it (s.mu held).
func (s *Service) endTask(e *runpb.Execution, t *runpb.Task, o tasks.Outcome, msg string, now time.Time) {
	t.CompletionTime = timestamppb.New(now)
	t.Reconciling = false
	switch {
	case o == tasks.Cancelled:
		t.Conditions = setCond(t.Conditions, withReason(cond(condCompleted, runpb.Condition_CONDITION_FAILED, msg, now), runpb.Condition_CANCELLED))
		e.CancelledCount++
	case t.GetLastAttemptResult().GetStatus().GetCode() == int32(code.Code_OK) && t.LastAttemptResult != nil:
		t.Conditions = setCond(t.Conditions, cond(condCompleted, runpb.Condition_CONDITION_SUCCEEDED, "", now))
		e.SucceededCount++
	default:
		t.Conditions = setCond(t.Conditions, withReason(cond(condCompleted, runpb.Condition_CONDITION_FAILED, msg, now), runpb.Condition_NON_ZERO_EXIT_CODE))
		e.FailedCount++
	}
	s.taskUpdated(t, now)
	s.updated(e, now)
}

// attemptResult maps a tasks.Result onto TaskAttemptResult: at most one of
// exit_code and term_signal; the status codes are gcpsim's choice.
func attemptResult(res tasks.Result) *runpb.TaskAttemptResult {
	r := &runpb.TaskAttemptResult{Status: &spb.Status{Message: res.Message}}
	if res.Signal != 0 {
		r.TermSignal = int32(res.Signal)
	} else if res.Outcome != tasks.StartFailed {
		r.ExitCode = int32(res.ExitCode)
	}
	switch {
	case res.Succeeded():
		r.Status.Code = int32(code.Code_OK)
	case res.Outcome == tasks.TimedOut:
		r.Status.Code = int32(code.Code_DEADLINE_EXCEEDED)
	case res.Outcome == tasks.Cancelled:
		r.Status.Code = int32(code.Code_CANCELLED)
	case res.Outcome == tasks.OutOfMemory:
		r.Status.Code = int32(code.Code_RESOURCE_EXHAUSTED)
	case res.Outcome == tasks.StartFailed:
		r.Status.Code = int32(code.Code_UNAVAILABLE)
	default:
		r.Status.Code = int32(code.Code_ABORTED)
	}
	return r
}

// finalize ends an execution whose tasks have all ended or will never run
// (s.mu held): tasks not ended are counted cancelled.
func (s *Service) finalize(e *runpb.Execution, now time.Time) {
	cancelling := getCond(e.Conditions, condCompleted).GetExecutionReason() == runpb.Condition_CANCELLING
	var firstFailed *runpb.Task
	for i := range int(e.TaskCount) {
		t := s.st.tasks[e.Name+"/tasks/"+taskID(execShort(e), i)]
		if t == nil {
			continue
		}
		c := getCond(t.Conditions, condCompleted)
		if c.State != runpb.Condition_CONDITION_SUCCEEDED && c.State != runpb.Condition_CONDITION_FAILED {
			s.endTask(e, t, tasks.Cancelled, tasks.MsgCancelled, now)
			continue
		}
		if firstFailed == nil && c.State == runpb.Condition_CONDITION_FAILED && c.GetExecutionReason() != runpb.Condition_CANCELLED {
			firstFailed = t
		}
	}
	var c *runpb.Condition
	switch {
	case cancelling || e.CancelledCount > 0:
		c = withReason(cond(condCompleted, runpb.Condition_CONDITION_FAILED, fmt.Sprintf("Execution %s was cancelled.", execShort(e)), now), runpb.Condition_CANCELLED)
	case firstFailed != nil:
		c = withReason(cond(condCompleted, runpb.Condition_CONDITION_FAILED, failureMessage(firstFailed), now), runpb.Condition_NON_ZERO_EXIT_CODE)
	default:
		c = cond(condCompleted, runpb.Condition_CONDITION_SUCCEEDED, "Execution completed successfully in "+seconds(now.Sub(e.CreateTime.AsTime()))+".", now)
	}
	e.Conditions = setCond(e.Conditions, c)
	e.CompletionTime = timestamppb.New(now)
	e.RunningCount = 0
	e.Reconciling = false
	s.updated(e, now)
	s.completeOperations(e)
	if j := s.st.jobs[e.Name[:len(e.Name)-len("/executions/"+execShort(e))]]; j != nil && j.LatestCreatedExecution.GetName() == e.Name {
		j.LatestCreatedExecution.CompletionTime = e.CompletionTime
		j.LatestCreatedExecution.CompletionStatus = completionStatus(e)
	}
}

// failureMessage words the Completed condition as Cloud Run does.
func failureMessage(t *runpb.Task) string {
	id := t.Name[len(t.Name)-len(taskID(t.Execution, int(t.Index))):]
	r := t.GetLastAttemptResult()
	switch r.GetStatus().GetCode() {
	case int32(code.Code_DEADLINE_EXCEEDED), int32(code.Code_UNAVAILABLE):
		return fmt.Sprintf("Task %s failed with message: %s", id, r.GetStatus().GetMessage())
	}
	return fmt.Sprintf("Task %s failed with exit code: %d and message: %s", id, r.GetExitCode(), r.GetStatus().GetMessage())
}

func (s *Service) updated(e *runpb.Execution, now time.Time) {
	e.UpdateTime = timestamppb.New(now)
	e.Etag = execEtag(e)
	s.touch()
}

func (s *Service) taskUpdated(t *runpb.Task, now time.Time) {
	t.UpdateTime = timestamppb.New(now)
	t.Etag = etag(t.Uid, now.UnixNano())
}

// failOrphans ends the executions a previous gcpsim left running, for a
// runner that cannot adopt their containers: unfinished tasks fail (s.mu held).
func (s *Service) failOrphans(now time.Time) {
	for _, e := range s.st.execs {
		if terminal(e) {
			continue
		}
		for i := range int(e.TaskCount) {
			if t := s.st.tasks[e.Name+"/tasks/"+taskID(execShort(e), i)]; t != nil && !taskEnded(t) {
				s.loseTask(e, t, now)
			}
		}
		s.finalize(e, now)
	}
}

// loseTask fails a task whose attempt's container a previous gcpsim left and nobody has any more (s.mu held).
func (s *Service) loseTask(e *runpb.Execution, t *runpb.Task, now time.Time) {
	const msg = "The task was lost because gcpsim restarted."
	if attemptStarted(t) && e.RunningCount > 0 {
		e.RunningCount--
	}
	t.LastAttemptResult = &runpb.TaskAttemptResult{Status: &spb.Status{Code: int32(code.Code_UNAVAILABLE), Message: msg}}
	s.endTask(e, t, tasks.StartFailed, msg, now)
}

func taskEnded(t *runpb.Task) bool {
	st := getCond(t.Conditions, condCompleted).GetState()
	return st == runpb.Condition_CONDITION_SUCCEEDED || st == runpb.Condition_CONDITION_FAILED
}

// attemptStarted reports whether the task's current attempt had started: a start at or after its scheduling.
func attemptStarted(t *runpb.Task) bool {
	return t.StartTime != nil && t.ScheduledTime != nil && !t.StartTime.AsTime().Before(t.ScheduledTime.AsTime())
}
