package cloudrun

import (
	"context"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// newOperation records an operation (s.mu held). With awaits empty it is done
// at once with response; otherwise it ends when that execution ends, with the
// final execution as its response.
func (s *Service) newOperation(loc location, metadata, response proto.Message, awaits string) *longrunningpb.Operation {
	op := &longrunningpb.Operation{Name: loc.String() + "/operations/" + uuid4()}
	op.Metadata, _ = anypb.New(metadata)
	if awaits == "" {
		op.Done = true
		resp, _ := anypb.New(response)
		op.Result = &longrunningpb.Operation_Response{Response: resp}
	}
	s.st.ops[op.Name] = &operation{op: op, awaits: awaits}
	s.touch()
	return proto.Clone(op).(*longrunningpb.Operation)
}

// completeOperations finishes the operations waiting for an execution (s.mu
// held); e is its final state.
func (s *Service) completeOperations(e *runpb.Execution) {
	for _, o := range s.st.ops {
		if o.awaits != e.Name {
			continue
		}
		o.awaits = ""
		o.op.Metadata, _ = anypb.New(e)
		resp, _ := anypb.New(e)
		o.op.Done = true
		o.op.Result = &longrunningpb.Operation_Response{Response: resp}
	}
}

func (s *Service) operation(name string) (*longrunningpb.Operation, error) {
	o, ok := s.st.ops[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Operation %s not found.", name)
	}
	if o.awaits != "" {
		if e, ok := s.st.execs[o.awaits]; ok {
			o.op.Metadata, _ = anypb.New(e)
		}
	}
	return proto.Clone(o.op).(*longrunningpb.Operation), nil
}

// GetOperation returns an operation, with fresh metadata while it runs.
func (s *Service) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.read, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.operation(req.GetName())
}

// WaitOperation waits until the operation is done or the timeout (default
// one minute) passes, and returns its latest state.
func (s *Service) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	if err := s.charge(s.rates.read, req.GetName()); err != nil {
		return nil, err
	}
	d := time.Minute
	if req.GetTimeout() != nil {
		d = req.GetTimeout().AsDuration()
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		op, err := s.operation(req.GetName())
		changed := s.changed
		s.mu.Unlock()
		if err != nil || op.Done {
			return op, err
		}
		select {
		case <-changed:
		case <-deadline.C:
			return op, nil
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// ListOperations lists the operations under a location name.
func (s *Service) ListOperations(ctx context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	if err := s.charge(s.rates.read, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.st.ops {
		if strings.HasPrefix(name, req.GetName()+"/") {
			names = append(names, name)
		}
	}
	sortStrings(names)
	page, next, err := paginate(names, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &longrunningpb.ListOperationsResponse{NextPageToken: next}
	for _, n := range page {
		op, _ := s.operation(n)
		resp.Operations = append(resp.Operations, op)
	}
	return resp, nil
}

// DeleteOperation forgets an operation.
func (s *Service) DeleteOperation(ctx context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	if err := s.charge(s.rates.write, req.GetName()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.ops[req.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "Operation %s not found.", req.GetName())
	}
	delete(s.st.ops, req.GetName())
	s.touch()
	return &emptypb.Empty{}, nil
}
