package cloudrun

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Condition types.
const (
	condReady              = "Ready"
	condResourcesAvailable = "ResourcesAvailable"
	condStarted            = "Started"
	condCompleted          = "Completed"
)

func cond(typ string, st runpb.Condition_State, msg string, t time.Time) *runpb.Condition {
	return &runpb.Condition{Type: typ, State: st, Message: msg, LastTransitionTime: timestamppb.New(t)}
}

// setCond replaces the condition of the same type, or appends it.
func setCond(cs []*runpb.Condition, c *runpb.Condition) []*runpb.Condition {
	for i, old := range cs {
		if old.Type == c.Type {
			cs[i] = c
			return cs
		}
	}
	return append(cs, c)
}

func getCond(cs []*runpb.Condition, typ string) *runpb.Condition {
	for _, c := range cs {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func withReason(c *runpb.Condition, r runpb.Condition_ExecutionReason) *runpb.Condition {
	c.Reasons = &runpb.Condition_ExecutionReason_{ExecutionReason: r}
	return c
}

// terminal reports whether an execution has ended.
func terminal(e *runpb.Execution) bool {
	c := getCond(e.GetConditions(), condCompleted)
	return c != nil && (c.State == runpb.Condition_CONDITION_SUCCEEDED || c.State == runpb.Condition_CONDITION_FAILED)
}

func completionStatus(e *runpb.Execution) runpb.ExecutionReference_CompletionStatus {
	c := getCond(e.GetConditions(), condCompleted)
	switch {
	case c == nil:
		return runpb.ExecutionReference_EXECUTION_PENDING
	case c.State == runpb.Condition_CONDITION_SUCCEEDED:
		return runpb.ExecutionReference_EXECUTION_SUCCEEDED
	case c.State == runpb.Condition_CONDITION_FAILED && c.GetExecutionReason() == runpb.Condition_CANCELLED:
		return runpb.ExecutionReference_EXECUTION_CANCELLED
	case c.State == runpb.Condition_CONDITION_FAILED:
		return runpb.ExecutionReference_EXECUTION_FAILED
	case e.StartTime != nil:
		return runpb.ExecutionReference_EXECUTION_RUNNING
	}
	return runpb.ExecutionReference_EXECUTION_PENDING
}

func etag(parts ...any) string {
	h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return `"` + base64.RawURLEncoding.EncodeToString(h[:12]) + `"`
}

// A job's etag changes when its desired state does (generation), not when
// it is run, so that a RunJob does not invalidate a GetJob → UpdateJob.
func jobEtag(j *runpb.Job) string { return etag(j.Uid, j.Generation) }

func execEtag(e *runpb.Execution) string { return etag(e.Uid, e.UpdateTime.AsTime().UnixNano()) }

func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}
