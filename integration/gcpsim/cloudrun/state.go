package cloudrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// state is everything the API serves, keyed by full resource name.
type state struct {
	jobs  map[string]*runpb.Job
	execs map[string]*runpb.Execution
	tasks map[string]*runpb.Task
	ops   map[string]*operation
	dirty bool
	// savedAt is when the state loaded was saved: about when the gcpsim that saved it stopped reading its tasks' logs.
	savedAt time.Time
}

// operation is a long-running operation. One that waits for an execution to
// end (RunJob, CancelExecution) names it in awaits until it is done.
type operation struct {
	op     *longrunningpb.Operation
	awaits string
}

func newState() *state {
	return &state{
		jobs: map[string]*runpb.Job{}, execs: map[string]*runpb.Execution{},
		tasks: map[string]*runpb.Task{}, ops: map[string]*operation{},
	}
}

type savedState struct {
	Version    int               `json:"version"`
	Saved      time.Time         `json:"saved"`
	Jobs       []json.RawMessage `json:"jobs"`
	Executions []json.RawMessage `json:"executions"`
	Tasks      []json.RawMessage `json:"tasks"`
	Operations []savedOperation  `json:"operations"`
}

type savedOperation struct {
	Operation json.RawMessage `json:"operation"`
	Awaits    string          `json:"awaits,omitempty"`
}

func (st *state) marshal() ([]byte, error) {
	var out savedState
	out.Version = 1
	out.Saved = time.Now()
	enc := func(m proto.Message) json.RawMessage {
		b, _ := protojson.Marshal(m)
		return b
	}
	for _, j := range st.jobs {
		out.Jobs = append(out.Jobs, enc(j))
	}
	for _, e := range st.execs {
		out.Executions = append(out.Executions, enc(e))
	}
	for _, t := range st.tasks {
		out.Tasks = append(out.Tasks, enc(t))
	}
	for _, o := range st.ops {
		out.Operations = append(out.Operations, savedOperation{Operation: enc(o.op), Awaits: o.awaits})
	}
	return json.Marshal(out)
}

func loadState(path string) (*state, error) {
	st := newState()
	if path == "" {
		return st, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cloudrun: read state: %w", err)
	}
	var in savedState
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("cloudrun: state %s: %w", path, err)
	}
	dec := func(raw json.RawMessage, m proto.Message) error {
		if err := protojson.Unmarshal(raw, m); err != nil {
			return fmt.Errorf("cloudrun: state %s: %w", path, err)
		}
		return nil
	}
	st.savedAt = in.Saved
	for _, raw := range in.Jobs {
		j := &runpb.Job{}
		if err := dec(raw, j); err != nil {
			return nil, err
		}
		st.jobs[j.Name] = j
	}
	for _, raw := range in.Executions {
		e := &runpb.Execution{}
		if err := dec(raw, e); err != nil {
			return nil, err
		}
		st.execs[e.Name] = e
	}
	for _, raw := range in.Tasks {
		t := &runpb.Task{}
		if err := dec(raw, t); err != nil {
			return nil, err
		}
		st.tasks[t.Name] = t
	}
	for _, so := range in.Operations {
		op := &longrunningpb.Operation{}
		if err := dec(so.Operation, op); err != nil {
			return nil, err
		}
		st.ops[op.Name] = &operation{op: op, awaits: so.Awaits}
	}
	return st, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
