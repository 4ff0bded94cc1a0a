package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/runsock/runsock/integration/gcpsim/logging"
)

// TimestampAttribute is the message attribute that carries the entry's timestamp.
const TimestampAttribute = "logging.googleapis.com/timestamp"

// Config configures a Publisher.
type Config struct {
	// Sinks to publish for; each must come from ParseFlag or LoadFile.
	Sinks []Sink
	// ClientOptions are passed to pubsub.NewClient; none are needed with PUBSUB_EMULATOR_HOST set.
	ClientOptions []option.ClientOption
	// Logger may be nil (discard).
	Logger *slog.Logger
}

// Publisher publishes matching entries for a set of sinks. It implements logging.Publisher.
type Publisher struct {
	sinks  []Sink
	client *pubsub.Client
	topics map[string]*pubsub.Publisher
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	lastWarned map[string]time.Time
}

var _ logging.Publisher = (*Publisher)(nil)

// New creates a Publisher. Sinks not produced by ParseFlag or LoadFile are validated here.
func New(ctx context.Context, cfg Config) (*Publisher, error) {
	p := &Publisher{topics: map[string]*pubsub.Publisher{}, log: cfg.Logger, lastWarned: map[string]time.Time{}}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, s := range cfg.Sinks {
		if s.filter == nil || s.topic == "" {
			if err := s.compile(); err != nil {
				return nil, err
			}
		}
		p.sinks = append(p.sinks, s)
	}
	if len(p.sinks) == 0 {
		return p, nil
	}
	// The client's project only names defaults; every sink names its topic in full.
	project := strings.Split(p.sinks[0].topic, "/")[1]
	client, err := pubsub.NewClient(ctx, project, cfg.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("sinks: pubsub client: %w", err)
	}
	p.client = client
	for _, s := range p.sinks {
		if _, ok := p.topics[s.topic]; !ok {
			p.topics[s.topic] = client.Publisher(s.topic)
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Publish publishes every entry to each enabled sink whose filter it matches. It does not wait for the results.
func (p *Publisher) Publish(entries []*loggingpb.LogEntry) {
	if p.client == nil {
		return
	}
	type pending struct {
		sink string
		res  *pubsub.PublishResult
	}
	var results []pending
	for _, e := range entries {
		var msg *pubsub.Message
		for _, s := range p.sinks {
			if s.Disabled || !s.filter.Match(e) {
				continue
			}
			if msg == nil {
				var err error
				if msg, err = Message(e); err != nil {
					p.log.Error("sink: encode entry", "insertId", e.GetInsertId(), "err", err)
					break
				}
			}
			results = append(results, pending{sink: s.Name, res: p.topics[s.topic].Publish(p.ctx, msg)})
		}
	}
	if len(results) == 0 {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for _, r := range results {
			if _, err := r.res.Get(p.ctx); err != nil {
				p.warn(r.sink, err)
			}
		}
	}()
}

// Message encodes an entry as a sink publishes it.
func Message(e *loggingpb.LogEntry) (*pubsub.Message, error) {
	data, err := protojson.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("marshal log entry: %w", err)
	}
	// protojson varies its whitespace on purpose; compact it so every message looks the same.
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, fmt.Errorf("marshal log entry: %w", err)
	}
	return &pubsub.Message{
		Data:       compact.Bytes(),
		Attributes: map[string]string{TimestampAttribute: e.GetTimestamp().AsTime().UTC().Format(time.RFC3339Nano)},
	}, nil
}

// warn logs a failed publish, at most once a minute per sink.
func (p *Publisher) warn(sink string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	p.mu.Lock()
	last := p.lastWarned[sink]
	now := time.Now()
	quiet := now.Sub(last) < time.Minute
	if !quiet {
		p.lastWarned[sink] = now
	}
	p.mu.Unlock()
	if quiet {
		return
	}
	if status.Code(err) == codes.NotFound {
		p.log.Warn("sink: destination topic does not exist; entries are dropped until it is created", "sink", sink, "err", err)
		return
	}
	p.log.Warn("sink: publish failed", "sink", sink, "err", err)
}

// Close flushes pending messages, waits for their results and closes the client. Call it after the logging Service
// that feeds this Publisher has been closed.
func (p *Publisher) Close() error {
	if p.client == nil {
		return nil
	}
	for _, t := range p.topics {
		t.Stop()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cancel()
		<-done
	}
	p.cancel()
	return p.client.Close()
}
