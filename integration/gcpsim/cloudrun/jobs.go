package cloudrun

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CreateJob creates a job; the operation is done at once.
func (s *Service) CreateJob(ctx context.Context, req *runpb.CreateJobRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.write, req.GetParent()); err != nil {
		return nil, err
	}
	return s.createJob(req)
}

// createJob is CreateJob once the request is charged (UpdateJob with allow_missing comes here too).
func (s *Service) createJob(req *runpb.CreateJobRequest) (*longrunningpb.Operation, error) {
	loc, err := s.parseLocation(strings.Split(req.GetParent(), "/"))
	if err != nil {
		return nil, err
	}
	id := req.GetJobId()
	if id == "" {
		id = "job-" + randomID(8)
	}
	if !jobIDRE.MatchString(id) {
		return nil, invalid("Invalid job_id %q: it must use only lowercase alphanumeric characters and dashes, cannot begin or end with a dash, and cannot be longer than 63 characters.", id)
	}
	if req.GetJob() == nil {
		return nil, invalid("job is required")
	}
	j := proto.Clone(req.GetJob()).(*runpb.Job)
	j.Name = jobName(loc, id)
	if err := s.normalizeJob(j); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.jobs[j.Name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Job %s already exists.", j.Name)
	}
	if s.countJobs(loc) >= s.cfg.MaxJobs {
		return nil, jobsLimit(s.cfg.MaxJobs).Error(s.consumer(loc.region))
	}
	now := time.Now()
	j.Uid, j.Generation = uuid4(), 1
	j.CreateTime, j.UpdateTime = timestamppb.New(now), timestamppb.New(now)
	s.settle(j, now)
	if !req.GetValidateOnly() {
		s.st.jobs[j.Name] = j
		s.touch()
	}
	return s.newOperation(loc, j, j, ""), nil
}

func (s *Service) countJobs(loc location) int {
	prefix := loc.String() + "/"
	n := 0
	for name := range s.st.jobs {
		if strings.HasPrefix(name, prefix) {
			n++
		}
	}
	return n
}

// settle sets the output fields of a job whose desired state just changed.
func (s *Service) settle(j *runpb.Job, now time.Time) {
	if j.LaunchStage == 0 {
		j.LaunchStage = 4 // GA
	}
	j.ObservedGeneration = j.Generation
	j.Reconciling = false
	j.TerminalCondition = cond(condReady, runpb.Condition_CONDITION_SUCCEEDED, "", now)
	j.Etag = jobEtag(j)
	j.DeleteTime, j.ExpireTime = nil, nil
}

// GetJob returns a job.
func (s *Service) GetJob(ctx context.Context, req *runpb.GetJobRequest) (*runpb.Job, error) {
	if err := s.charge(s.rates.read, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, _, err := s.job(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(j).(*runpb.Job), nil
}

func (s *Service) job(name string) (*runpb.Job, location, error) {
	loc, ids, err := s.parseName(name, "jobs")
	if err != nil {
		return nil, loc, err
	}
	j, ok := s.st.jobs[jobName(loc, ids[0])]
	if !ok {
		return nil, loc, notFound("JOB", ids[0], loc)
	}
	return j, loc, nil
}

// ListJobs lists a location's jobs, newest first.
func (s *Service) ListJobs(ctx context.Context, req *runpb.ListJobsRequest) (*runpb.ListJobsResponse, error) {
	if err := s.charge(s.rates.read, req.GetParent()); err != nil {
		return nil, err
	}
	loc, err := s.parseLocation(strings.Split(req.GetParent(), "/"))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*runpb.Job
	for name, j := range s.st.jobs {
		if strings.HasPrefix(name, loc.String()+"/") {
			all = append(all, j)
		}
	}
	sortNewest(all)
	page, next, err := paginate(all, req.GetPageSize(), req.GetPageToken())
	resp := &runpb.ListJobsResponse{NextPageToken: next}
	for _, j := range page {
		resp.Jobs = append(resp.Jobs, proto.Clone(j).(*runpb.Job))
	}
	s.mu.Unlock()
	return resp, err
}

type created interface {
	GetCreateTime() *timestamppb.Timestamp
	GetName() string
}

func sortNewest[T created](xs []T) {
	slices.SortFunc(xs, func(a, b T) int {
		if c := b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
}

// paginate pages through xs; the token is the offset of the next page.
func paginate[T any](xs []T, size int32, token string) ([]T, string, error) {
	off := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "o"))
		if err != nil || n < 0 || !strings.HasPrefix(token, "o") {
			return nil, "", invalid("invalid page_token %q", token)
		}
		off = n
	}
	if size < 0 {
		return nil, "", invalid("page_size must not be negative")
	}
	if size == 0 || size > 1000 {
		size = 1000
	}
	if off >= len(xs) {
		return nil, "", nil
	}
	end := min(off+int(size), len(xs))
	next := ""
	if end < len(xs) {
		next = "o" + strconv.Itoa(end)
	}
	return xs[off:end], next, nil
}

// UpdateJob replaces a job's desired state (or creates it with allow_missing).
func (s *Service) UpdateJob(ctx context.Context, req *runpb.UpdateJobRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.write, req.GetJob().GetName()); err != nil {
		return nil, err
	}
	if req.GetJob() == nil {
		return nil, invalid("job is required")
	}
	loc, ids, err := s.parseName(req.GetJob().GetName(), "jobs")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	_, ok := s.st.jobs[jobName(loc, ids[0])]
	s.mu.Unlock()
	if !ok {
		if !req.GetAllowMissing() {
			return nil, notFound("JOB", ids[0], loc)
		}
		return s.createJob(&runpb.CreateJobRequest{Parent: loc.String(), JobId: ids[0], Job: req.Job, ValidateOnly: req.ValidateOnly})
	}
	j := proto.Clone(req.GetJob()).(*runpb.Job)
	j.Name = jobName(loc, ids[0])
	if err := s.normalizeJob(j); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.st.jobs[j.Name]
	if !ok {
		return nil, notFound("JOB", ids[0], loc)
	}
	if err := checkEtag(j.Etag, old.Etag, "job", ids[0]); err != nil {
		return nil, err
	}
	now := time.Now()
	j.Uid, j.CreateTime, j.Creator = old.Uid, old.CreateTime, old.Creator
	j.Generation = old.Generation + 1
	j.UpdateTime = timestamppb.New(now)
	j.ExecutionCount, j.LatestCreatedExecution = old.ExecutionCount, old.LatestCreatedExecution
	s.settle(j, now)
	if !req.GetValidateOnly() {
		s.st.jobs[j.Name] = j
		s.touch()
	}
	return s.newOperation(loc, j, j, ""), nil
}

// checkEtag refuses a request whose etag (if it gave one) is not the resource's current one, with ABORTED as
// AIP-154 says.
func checkEtag(given, current, kind, id string) error {
	if given == "" || given == current {
		return nil
	}
	return status.Errorf(codes.Aborted, "The %s %s was changed since it was read (etag mismatch).", kind, id)
}

// DeleteJob deletes a job with its executions and tasks; running executions
// are stopped.
func (s *Service) DeleteJob(ctx context.Context, req *runpb.DeleteJobRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.write, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, loc, err := s.job(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkEtag(req.GetEtag(), j.Etag, "job", j.Name); err != nil {
		return nil, err
	}
	out := proto.Clone(j).(*runpb.Job)
	now := time.Now()
	out.DeleteTime, out.ExpireTime = timestamppb.New(now), timestamppb.New(now)
	if req.GetValidateOnly() {
		return s.newOperation(loc, out, out, ""), nil
	}
	delete(s.st.jobs, j.Name)
	for name := range s.st.execs {
		if strings.HasPrefix(name, j.Name+"/") {
			s.removeExecution(name, now)
		}
	}
	s.touch()
	return s.newOperation(loc, out, out, ""), nil
}

// GetIamPolicy returns an empty policy: gcpsim enforces no IAM.
func (s *Service) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	if err := s.charge(s.rates.read, req.GetResource()); err != nil {
		return nil, err
	}
	return &iampb.Policy{Version: 1, Etag: []byte("gcpsim")}, nil
}

// SetIamPolicy accepts any policy and returns it; it has no effect.
func (s *Service) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	if err := s.charge(s.rates.write, req.GetResource()); err != nil {
		return nil, err
	}
	return req.GetPolicy(), nil
}

// TestIamPermissions grants every permission asked for.
func (s *Service) TestIamPermissions(ctx context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	if err := s.charge(s.rates.read, req.GetResource()); err != nil {
		return nil, err
	}
	return &iampb.TestIamPermissionsResponse{Permissions: req.GetPermissions()}, nil
}
