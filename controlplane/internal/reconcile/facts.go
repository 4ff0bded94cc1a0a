package reconcile

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/runsock/runsock/controlplane/internal/cloudrun"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/executiondoc"
)

// Ender ends a container's execution (and starts again the restarting ones whose restart policy's moment has
// passed); *containers.Service implements it.
type Ender interface {
	ApplyOutcome(ctx context.Context, id, execution string, out containers.Outcome, enrich bool) (bool, error)
	Announce(ctx context.Context, e containers.Event)
	RestartDue(ctx context.Context, list []*containers.Container, grace time.Duration) (int, error)
}

var _ Ender = (*containers.Service)(nil)

// toOutcome maps a system outcome onto Docker's view, and whether it may enrich an exit already recorded.
func toOutcome(o executiondoc.Outcome) (containers.Outcome, bool) {
	out := containers.Outcome{ExitCode: o.ExitCode, Signal: o.Signal, FinishedAt: o.Time}
	switch o.Kind {
	case executiondoc.KindOOM:
		out.ExitCode, out.Signal, out.OOMKilled = 137, 9, true
		return out, true
	case executiondoc.KindTimeout:
		out.ExitCode, out.Signal, out.Error = 137, 9, cloudrun.ErrorTimeout
		return out, true
	case executiondoc.KindCancelled:
		out.ExitCode, out.Signal, out.Error = 137, 9, containers.ErrorCancelled
	case executiondoc.KindSignal:
		if o.Signal > 0 {
			out.ExitCode = 128 + o.Signal
		}
	}
	return out, false
}

// Facts applies the outcomes the execution-events function records to the containers they belong to.
type Facts struct {
	fs    *firestore.Client
	ender Ender
	log   *slog.Logger
	since time.Time
}

// NewFacts listens for outcomes recorded at or after since (start time minus a margin for ingestion lag; older
// ones are the reconciler's). log may be nil.
func NewFacts(fs *firestore.Client, ender Ender, since time.Time, log *slog.Logger) *Facts {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Facts{fs: fs, ender: ender, log: log, since: since}
}

// Run listens until ctx ends, re-listening with backoff after an error. Every (re)listen replays the facts since
// the start; applying one twice changes nothing.
func (f *Facts) Run(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for {
		err := f.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		f.log.Warn("execution facts listener", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (f *Facts) listen(ctx context.Context) error {
	q := f.fs.Collection(executiondoc.Collection).Where(executiondoc.FieldSystemOutcome+".time", ">=", f.since)
	it := q.Snapshots(ctx)
	defer it.Stop()
	for {
		snap, err := it.Next()
		if err != nil {
			return fmt.Errorf("listen to %s: %w", executiondoc.Collection, err)
		}
		for _, ch := range snap.Changes {
			if ch.Kind == firestore.DocumentRemoved {
				continue
			}
			f.apply(ctx, ch.Doc)
		}
	}
}

func (f *Facts) apply(ctx context.Context, snap *firestore.DocumentSnapshot) {
	var d executiondoc.Document
	if err := snap.DataTo(&d); err != nil {
		f.log.Warn("undecodable execution fact", "execution", snap.Ref.ID, "err", err)
		return
	}
	if d.ContainerID == "" || d.SystemOutcome == nil {
		return // not launched by runsock (yet): the launch merges containerId and this fires again
	}
	out, enrich := toOutcome(*d.SystemOutcome)
	changed, err := f.ender.ApplyOutcome(ctx, d.ContainerID, snap.Ref.ID, out, enrich)
	if err != nil {
		f.log.Debug("apply execution fact", "execution", snap.Ref.ID, "container", d.ContainerID, "err", err)
		return
	}
	if changed {
		f.log.Info("execution fact applied", "execution", snap.Ref.ID, "container", d.ContainerID,
			"kind", d.SystemOutcome.Kind, "exitCode", out.ExitCode)
	}
}
