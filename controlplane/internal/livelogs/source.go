package livelogs

import (
	"context"
	"iter"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Source is the containers.LogSource of the control plane: it serves a container's output from the agent's live
// stream (Live, complete right after the exit) and falls back to another source (Cloud Logging) for containers
// whose agent never linked.
type Source struct {
	Live     *Store
	Fallback containers.LogSource
}

var _ containers.LogSource = Source{}

// Logs implements containers.LogSource.
func (l Source) Logs(ctx context.Context, t containers.LogTarget, opts containers.LogOptions) iter.Seq2[containers.LogLine, error] {
	return func(yield func(containers.LogLine, error) bool) {
		st, err := l.Live.State(ctx, t.ContainerID)
		if err == nil && t.Running && t.AgentRun != "" && st.Run != t.AgentRun {
			st, err = l.awaitRun(ctx, t.ContainerID, t.AgentRun)
		}
		if err != nil {
			yield(containers.LogLine{}, err)
			return
		}
		if st.Run == "" { // the agent never linked: Cloud Logging is all there is
			if l.Fallback != nil {
				for line, err := range l.Fallback.Logs(ctx, t, opts) {
					if !yield(line, err) || err != nil {
						return
					}
				}
			}
			return
		}
		l.live(ctx, t, opts, st, yield)
	}
}

// EndGrace is how long a reader of a container's live output keeps following after the container died (the agent's
// exit report and last output normally arrive before or with the die), and how long a removed container's live
// output stays for readers finishing its last lines.
const EndGrace = 5 * time.Second

// agentLinkWait bounds how long a read of a just-started container waits for its agent's first link before it
// settles for Cloud Logging's (delayed) copy of the output.
const agentLinkWait = 15 * time.Second

// awaitRun waits until the agent of run has linked (its output is then live), or agentLinkWait passes, and returns
// the live-log state either way. A `docker logs -f` right after `docker run -d` lands here.
func (l Source) awaitRun(ctx context.Context, id, run string) (State, error) {
	deadline := time.Now().Add(agentLinkWait)
	for {
		st, err := l.Live.State(ctx, id)
		if err != nil || st.Run == run || time.Now().After(deadline) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l Source) live(ctx context.Context, t containers.LogTarget, opts containers.LogOptions, st State, yield func(containers.LogLine, error) bool) {
	// Chunks are joined into Docker's log entries (lines.go) before since/until, which apply to an entry's time and
	// both include an entry at their time, as Docker's do (an entry after until is left out).
	j := &lineJoiner{}
	out := func(l containers.LogLine) bool {
		if (!opts.Since.IsZero() && l.Time.Before(opts.Since)) || (!opts.Until.IsZero() && l.Time.After(opts.Until)) {
			return true
		}
		return yield(l, nil)
	}
	emit := func(c Chunk) bool {
		if (c.Stream == 2 && !opts.Stderr && !t.Tty) || (c.Stream != 2 && !opts.Stdout) {
			return true
		}
		return j.add(c, out)
	}
	after := st.LastSeq
	var history iter.Seq2[Chunk, error] // nil: no history, only what comes next
	switch {
	case opts.From != nil:
		after = opts.From.Seq - min(opts.From.Seq, 1)
		history = l.Live.Chunks(ctx, t.ContainerID, after)
	case opts.Tail > 0:
		tail, err := l.Live.Read(ctx, t.ContainerID, ReadOptions{Tail: opts.Tail})
		history = func(yield func(Chunk, error) bool) {
			if err != nil {
				yield(Chunk{}, err)
				return
			}
			for _, c := range tail {
				if !yield(c, nil) {
					return
				}
			}
		}
	case opts.Tail < 0:
		history = l.Live.Chunks(ctx, t.ContainerID, 0)
	}
	started := false
	start := func(pos containers.LogPosition) {
		if !started && opts.Started != nil {
			opts.Started(pos)
		}
		started = true
	}
	if history != nil {
		for c, err := range history {
			if err != nil {
				yield(containers.LogLine{}, err)
				return
			}
			if !started && opts.From != nil && c.Seq == opts.From.Seq {
				c.Data = c.Data[min(opts.From.Offset, len(c.Data)):]
				c.Offset = opts.From.Offset
			}
			start(containers.LogPosition{Seq: c.Seq, Offset: c.Offset})
			if !emit(c) {
				return
			}
			after = max(after, c.Seq)
		}
	}
	start(containers.LogPosition{Seq: after + 1})
	if !opts.Follow {
		// A line the process has not ended is Docker's to log only at the stream's end: once the run is over.
		if !t.Running || st.Complete {
			j.flush(out)
		}
		return
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Done != nil {
		go func() {
			select {
			case <-opts.Done: // died; the agent's complete report normally ends the follow first
			case <-fctx.Done():
				return
			}
			select {
			case <-time.After(EndGrace):
				cancel()
			case <-fctx.Done():
			}
		}()
	}
	var stopped bool
	err := l.Live.Follow(fctx, t.ContainerID, FollowOptions{After: after}, func(c Chunk) error {
		if !emit(c) {
			stopped = true
			return context.Canceled
		}
		return nil
	})
	if err != nil && !stopped && fctx.Err() == nil {
		yield(containers.LogLine{}, err)
		return
	}
	if !stopped && ctx.Err() == nil {
		j.flush(out) // the run ended: its unfinished line is logged as it is
	}
}
