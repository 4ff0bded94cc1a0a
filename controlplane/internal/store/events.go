package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

const colEvents = "events"

// EventRetention is how long an event is kept: its document's expireAt, which Firestore's TTL policy on the field
// (infra/firestore.tf) deletes it after — usually within a day of it, so a read may still see an event a little
// older. A week covers the longest a Cloud Run task may run (168 h), so `docker events --since` the start of any
// container still running finds its events; Docker itself keeps only its last 256.
const EventRetention = 7 * 24 * time.Hour

// Event fields that queries and the TTL policy name.
const (
	fieldOwner    = "owner"
	fieldTime     = "time"
	fieldExpireAt = "expireAt"
)

type eventDoc struct {
	Owner    string            `firestore:"owner"`
	Time     time.Time         `firestore:"time"`
	ExpireAt time.Time         `firestore:"expireAt"`
	Type     string            `firestore:"type"`
	Action   string            `firestore:"action"`
	Actor    string            `firestore:"actor"`
	Attrs    map[string]string `firestore:"attrs"`
	// Exit is a die event's outcome (absent on other events, and on die events recorded before it existed).
	Exit *exitDoc `firestore:"exit,omitempty"`
}

// exitDoc is a containers.Outcome.
type exitDoc struct {
	ExitCode   int       `firestore:"exitCode"`
	OOMKilled  bool      `firestore:"oomKilled,omitempty"`
	Error      string    `firestore:"error,omitempty"`
	Signal     int       `firestore:"signal,omitempty"`
	FinishedAt time.Time `firestore:"finishedAt"`
}

func toExitDoc(o *containers.Outcome) *exitDoc {
	if o == nil {
		return nil
	}
	return &exitDoc{ExitCode: o.ExitCode, OOMKilled: o.OOMKilled, Error: o.Error, Signal: o.Signal, FinishedAt: o.FinishedAt}
}

func (d *exitDoc) outcome() *containers.Outcome {
	if d == nil {
		return nil
	}
	return &containers.Outcome{ExitCode: d.ExitCode, OOMKilled: d.OOMKilled, Error: d.Error, Signal: d.Signal, FinishedAt: d.FinishedAt}
}

// AddEvent is one write; the event expires EventRetention after it happened.
func (s *Store) AddEvent(ctx context.Context, e containers.Event) error {
	s.writes.Add(1)
	_, _, err := s.fs.Collection(colEvents).Add(ctx, eventDoc{Owner: e.Owner, Time: e.Time, ExpireAt: e.Time.Add(EventRetention),
		Type: e.Type, Action: e.Action, Actor: e.ActorID, Attrs: e.Attributes, Exit: toExitDoc(e.Exit)})
	return classify(err, "record event")
}

// ListEvents returns owner's events ("" = everyone's) in [since, until] (zero until = no end), oldest first. It is
// one query that an index serves, never a scan: owner == and a time range ordered by time (the composite index of
// Schema), or for everyone the time range alone (Firestore's single-field index).
func (s *Store) ListEvents(ctx context.Context, owner string, since, until time.Time) ([]containers.Event, error) {
	q := s.fs.Collection(colEvents).Query
	if owner != "" {
		q = q.Where(fieldOwner, "==", owner)
	}
	// Firestore keeps microseconds; a since with nanoseconds would skip the event it came from.
	q = q.Where(fieldTime, ">=", since.Truncate(time.Microsecond))
	if !until.IsZero() {
		q = q.Where(fieldTime, "<=", until)
	}
	s.queries.Add(1)
	it := q.OrderBy(fieldTime, firestore.Asc).Documents(ctx)
	defer it.Stop()
	var out []containers.Event
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, classify(err, "list events")
		}
		s.reads.Add(1)
		var d eventDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		out = append(out, containers.Event{Owner: d.Owner, Type: d.Type, Action: d.Action, ActorID: d.Actor, Attributes: d.Attrs,
			Time: d.Time, Exit: d.Exit.outcome()})
	}
}
