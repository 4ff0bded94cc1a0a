package cloudrun

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// RunJob creates an execution and starts it. The operation's metadata is the
// execution; it is done when the execution ends, with the final execution as
// its response (also when the execution failed).
func (s *Service) RunJob(ctx context.Context, req *runpb.RunJobRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.run, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "gcpsim is shutting down")
	}
	j, loc, err := s.job(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkEtag(req.GetEtag(), j.Etag, "job", j.Name); err != nil {
		return nil, err
	}
	if s.countRunning(loc) >= s.cfg.MaxRunning {
		return nil, runningLimit(s.cfg.MaxRunning).Error(s.consumer(loc.region))
	}
	tt := proto.Clone(j.Template.Template).(*runpb.TaskTemplate)
	count, err := applyOverrides(j.Template, tt, req.GetOverrides())
	if err != nil {
		return nil, err
	}
	jobID := j.Name[strings.LastIndex(j.Name, "/")+1:]
	var execID string
	for execID == "" || s.st.execs[executionName(loc, jobID, execID)] != nil {
		execID = jobID + "-" + randomID(5)
	}
	now := time.Now()
	e := s.newExecution(loc, j, jobID, execID, tt, count, now)
	if req.GetValidateOnly() {
		return s.newOperation(loc, e, e, ""), nil
	}
	s.st.execs[e.Name] = e
	for i := range count {
		t := newTask(loc, e, int(i), now)
		s.st.tasks[t.Name] = t
	}
	j.ExecutionCount++
	j.LatestCreatedExecution = &runpb.ExecutionReference{
		Name: e.Name, CreateTime: e.CreateTime, CompletionStatus: runpb.ExecutionReference_EXECUTION_PENDING,
	}
	op := s.newOperation(loc, e, nil, e.Name)
	s.start(e.Name)
	return op, nil
}

func (s *Service) countRunning(loc location) int {
	n := 0
	for name, e := range s.st.execs {
		if strings.HasPrefix(name, loc.String()+"/") && !terminal(e) {
			n++
		}
	}
	return n
}

func (s *Service) newExecution(loc location, j *runpb.Job, jobID, execID string, tt *runpb.TaskTemplate, count int32, now time.Time) *runpb.Execution {
	ts := timestamppb.New(now)
	e := &runpb.Execution{
		Name: executionName(loc, jobID, execID), Uid: uuid4(), Generation: 1,
		Labels: j.Template.Labels, Annotations: j.Template.Annotations,
		CreateTime: ts, UpdateTime: ts, LaunchStage: j.LaunchStage,
		Job: jobID, Parallelism: j.Template.Parallelism, TaskCount: count, Template: tt,
		Reconciling: true, ObservedGeneration: 1,
		Conditions: []*runpb.Condition{
			cond(condResourcesAvailable, runpb.Condition_CONDITION_PENDING, "", now),
			cond(condStarted, runpb.Condition_CONDITION_PENDING, "", now),
			cond(condCompleted, runpb.Condition_CONDITION_PENDING, "", now),
		},
		LogUri: logURI(loc, jobID, execID),
	}
	e.Etag = execEtag(e)
	return e
}

func logURI(loc location, job, exec string) string {
	filter := fmt.Sprintf("resource.type=\"cloud_run_job\"\nresource.labels.job_name=\"%s\"\nresource.labels.location=\"%s\"\nlabels.\"run.googleapis.com/execution_name\"=\"%s\"", job, loc.region, exec)
	return "https://console.cloud.google.com/logs/viewer?project=" + loc.project + "&advancedFilter=" + url.QueryEscape(filter)
}

func newTask(loc location, e *runpb.Execution, index int, now time.Time) *runpb.Task {
	tt := e.Template
	id := taskID(execShort(e), index)
	ts := timestamppb.New(now)
	t := &runpb.Task{
		Name: taskName(loc, e.Job, execShort(e), id), Uid: uuid4(), Generation: 1,
		Labels: e.Labels, Annotations: e.Annotations, CreateTime: ts, UpdateTime: ts,
		Job: e.Job, Execution: execShort(e),
		Containers: tt.Containers, Volumes: tt.Volumes, MaxRetries: tt.GetMaxRetries(),
		Timeout: tt.Timeout, ServiceAccount: tt.ServiceAccount, ExecutionEnvironment: tt.ExecutionEnvironment,
		Index: int32(index), Reconciling: true, ObservedGeneration: 1,
		Conditions: []*runpb.Condition{
			cond(condStarted, runpb.Condition_CONDITION_PENDING, "", now),
			cond(condCompleted, runpb.Condition_CONDITION_PENDING, "", now),
		},
		LogUri: e.LogUri,
	}
	t.Etag = etag(t.Uid, now.UnixNano())
	return t
}

func execShort(e *runpb.Execution) string { return e.Name[strings.LastIndex(e.Name, "/")+1:] }

func (s *Service) execution(name string) (*runpb.Execution, location, error) {
	loc, ids, err := s.parseName(name, "jobs", "executions")
	if err != nil {
		return nil, loc, err
	}
	e, ok := s.st.execs[executionName(loc, ids[0], ids[1])]
	if !ok {
		return nil, loc, notFound("EXECUTION", ids[1], loc)
	}
	return e, loc, nil
}

// GetExecution returns an execution.
func (s *Service) GetExecution(ctx context.Context, req *runpb.GetExecutionRequest) (*runpb.Execution, error) {
	if err := s.charge(s.rates.read, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _, err := s.execution(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(e).(*runpb.Execution), nil
}

// ListExecutions lists a job's executions (or all jobs' with "-"), newest first.
func (s *Service) ListExecutions(ctx context.Context, req *runpb.ListExecutionsRequest) (*runpb.ListExecutionsResponse, error) {
	if err := s.charge(s.rates.read, req.GetParent()); err != nil {
		return nil, err
	}
	loc, ids, err := s.parseName(req.GetParent(), "jobs")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ids[0] != "-" && s.st.jobs[jobName(loc, ids[0])] == nil {
		return nil, notFound("JOB", ids[0], loc)
	}
	var all []*runpb.Execution
	for _, e := range s.st.execs {
		if strings.HasPrefix(e.Name, loc.String()+"/") && (ids[0] == "-" || e.Job == ids[0]) {
			all = append(all, e)
		}
	}
	sortNewest(all)
	page, next, err := paginate(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &runpb.ListExecutionsResponse{NextPageToken: next}
	for _, e := range page {
		resp.Executions = append(resp.Executions, proto.Clone(e).(*runpb.Execution))
	}
	return resp, nil
}

// CancelExecution cancels a running execution. Its tasks get SIGTERM, then
// SIGKILL after the grace period; the operation is done when all have ended.
func (s *Service) CancelExecution(ctx context.Context, req *runpb.CancelExecutionRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.write, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, loc, err := s.execution(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkEtag(req.GetEtag(), e.Etag, "execution", execShort(e)); err != nil {
		return nil, err
	}
	if terminal(e) {
		return nil, status.Errorf(codes.FailedPrecondition, "Execution %s has already completed and cannot be cancelled.", execShort(e))
	}
	if req.GetValidateOnly() {
		return s.newOperation(loc, e, e, ""), nil
	}
	now := time.Now()
	e.Conditions = setCond(e.Conditions, withReason(cond(condCompleted, runpb.Condition_CONDITION_RECONCILING, "Cancelling execution.", now), runpb.Condition_CANCELLING))
	s.updated(e, now)
	op := s.newOperation(loc, e, nil, e.Name)
	if cancel, ok := s.running[e.Name]; ok {
		cancel(errCancelled)
	}
	return op, nil
}

// DeleteExecution deletes an execution and its tasks, stopping it if it runs.
func (s *Service) DeleteExecution(ctx context.Context, req *runpb.DeleteExecutionRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.write, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, loc, err := s.execution(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkEtag(req.GetEtag(), e.Etag, "execution", execShort(e)); err != nil {
		return nil, err
	}
	now := time.Now()
	out := proto.Clone(e).(*runpb.Execution)
	out.DeleteTime, out.ExpireTime = timestamppb.New(now), timestamppb.New(now)
	if !req.GetValidateOnly() {
		s.removeExecution(e.Name, now)
		s.touch()
	}
	return s.newOperation(loc, out, out, ""), nil
}

// removeExecution stops and forgets an execution and its tasks (s.mu held).
func (s *Service) removeExecution(name string, now time.Time) {
	e := s.st.execs[name]
	if cancel, ok := s.running[name]; ok {
		cancel(errDeleted)
	}
	delete(s.st.execs, name)
	for tn := range s.st.tasks {
		if strings.HasPrefix(tn, name+"/") {
			delete(s.st.tasks, tn)
		}
	}
	out := proto.Clone(e).(*runpb.Execution)
	out.DeleteTime, out.ExpireTime = timestamppb.New(now), timestamppb.New(now)
	s.completeOperations(out)
}

// GetTask returns a task.
func (s *Service) GetTask(ctx context.Context, req *runpb.GetTaskRequest) (*runpb.Task, error) {
	if err := s.charge(s.rates.read, req.GetName()); err != nil {
		return nil, err
	}
	loc, ids, err := s.parseName(req.GetName(), "jobs", "executions", "tasks")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.tasks[taskName(loc, ids[0], ids[1], ids[2])]
	if !ok {
		return nil, notFound("TASK", ids[2], loc)
	}
	return proto.Clone(t).(*runpb.Task), nil
}

// ListTasks lists an execution's tasks by index ("-" for job or execution
// lists across them).
func (s *Service) ListTasks(ctx context.Context, req *runpb.ListTasksRequest) (*runpb.ListTasksResponse, error) {
	if err := s.charge(s.rates.read, req.GetParent()); err != nil {
		return nil, err
	}
	loc, ids, err := s.parseName(req.GetParent(), "jobs", "executions")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ids[0] != "-" && ids[1] != "-" && s.st.execs[executionName(loc, ids[0], ids[1])] == nil {
		return nil, notFound("EXECUTION", ids[1], loc)
	}
	var all []*runpb.Task
	for _, t := range s.st.tasks {
		if strings.HasPrefix(t.Name, loc.String()+"/") && (ids[0] == "-" || t.Job == ids[0]) && (ids[1] == "-" || t.Execution == ids[1]) {
			all = append(all, t)
		}
	}
	slices.SortFunc(all, func(a, b *runpb.Task) int {
		if c := strings.Compare(a.Execution, b.Execution); c != 0 {
			return c
		}
		return int(a.Index - b.Index)
	})
	page, next, err := paginate(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &runpb.ListTasksResponse{NextPageToken: next}
	for _, t := range page {
		resp.Tasks = append(resp.Tasks, proto.Clone(t).(*runpb.Task))
	}
	return resp, nil
}

func sortStrings(xs []string) { slices.Sort(xs) }
