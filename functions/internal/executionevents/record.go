package executionevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/runsock/runsock/executiondoc"
	"log/slog"

	"cloud.google.com/go/firestore"
	"github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Recorder writes outcomes into Firestore.
type Recorder struct {
	fs  *firestore.Client
	log *slog.Logger
}

// NewRecorder returns a Recorder on fs; log may be nil.
func NewRecorder(fs *firestore.Client, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{fs: fs, log: log}
}

// Record merges o into its execution's document in one transaction and reports whether it changed anything.
func (r *Recorder) Record(ctx context.Context, o executiondoc.Outcome) (bool, error) {
	doc := r.fs.Collection(executiondoc.Collection).Doc(o.Execution)
	changed := false
	err := r.fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		changed = false
		snap, err := tx.Get(doc)
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
		if snap != nil && snap.Exists() {
			var cur executiondoc.Document
			if err := snap.DataTo(&cur); err != nil {
				return fmt.Errorf("decode %s: %w", o.Execution, err)
			}
			if cur.SystemOutcome != nil && !o.Better(*cur.SystemOutcome) {
				return nil
			}
		}
		changed = true
		return tx.Set(doc, map[string]any{executiondoc.FieldSystemOutcome: o}, firestore.MergeAll)
	})
	if err != nil {
		return false, fmt.Errorf("record outcome of %s: %w", o.Execution, err)
	}
	return changed, nil
}

// messagePublished is the data of a google.cloud.pubsub.topic.v1.messagePublished CloudEvent.
type messagePublished struct {
	Message struct {
		Data      []byte `json:"data"`
		MessageID string `json:"messageId"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// HandleEvent is the CloudEvent function. A malformed or irrelevant message is logged and acknowledged (nil), since
// redelivering it can never succeed; only a Firestore failure returns an error, so Pub/Sub retries it.
func (r *Recorder) HandleEvent(ctx context.Context, e event.Event) error {
	var m messagePublished
	if err := json.Unmarshal(e.Data(), &m); err != nil {
		r.log.WarnContext(ctx, "dropping malformed Pub/Sub event", "event_id", e.ID(), "error", err)
		return nil
	}
	o, err := ParseEntry(m.Message.Data)
	if errors.Is(err, ErrNotAnOutcome) {
		return nil
	}
	if err != nil {
		r.log.WarnContext(ctx, "dropping message that is not a Cloud Run job system entry", "message_id", m.Message.MessageID, "error", err)
		return nil
	}
	changed, err := r.Record(ctx, o)
	if err != nil {
		return err
	}
	r.log.InfoContext(ctx, "execution outcome", "execution", o.Execution, "kind", o.Kind, "exit_code", o.ExitCode, "changed", changed)
	return nil
}
