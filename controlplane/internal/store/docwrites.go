package store

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Google's guidance for one document is about one sustained write per second (an older quota page; current docs
// say "depends on the workload"). The counter measures each document's peak over any window of this length.
const sustainedWindow = 10 * time.Second

// maxTrackedDocs bounds the counter's memory: past it, documents idle for the longest are forgotten first.
const maxTrackedDocs = 50_000

// DocWrites is one document's write counts since the Store was opened (or since it was last tracked).
type DocWrites struct {
	Path   string    `json:"path"`   // relative to the database's documents, e.g. "livelogs/ID/batches/0001"
	Writes int64     `json:"writes"` // committed writes (sets, updates, deletes; a transaction's retry counts again)
	Peak   float64   `json:"peak"`   // the most writes per second averaged over any 10 s window
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
}

type docCount struct {
	total       int64
	first, last time.Time
	sec         int64     // the second of the newest bucket
	ring        [10]int32 // writes per second, for the 10 s up to and including sec
	peak        int32     // the most writes in any 10 s window
}

// docWrites counts writes per document from the Commit requests the Firestore client sends, so every part that
// shares the client is counted the same way (containers, names, events, live logs, images).
type docWrites struct {
	now  func() time.Time
	mu   sync.Mutex
	docs map[string]*docCount
}

func newDocWrites(now func() time.Time) *docWrites {
	if now == nil {
		now = time.Now
	}
	return &docWrites{now: now, docs: map[string]*docCount{}}
}

// record counts one write of each named document (full resource names).
func (w *docWrites) record(names []string) {
	now := w.now()
	sec := now.Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range names {
		path := name
		if _, rest, ok := strings.Cut(name, "/documents/"); ok {
			path = rest
		}
		d := w.docs[path]
		if d == nil {
			if len(w.docs) >= maxTrackedDocs {
				w.evictLocked()
			}
			d = &docCount{first: now, sec: sec}
			w.docs[path] = d
		}
		if gap := sec - d.sec; gap >= int64(len(d.ring)) {
			d.ring = [10]int32{}
		} else {
			for i := int64(1); i <= gap; i++ { // clear the seconds that passed without writes
				d.ring[(d.sec+i)%int64(len(d.ring))] = 0
			}
		}
		d.sec = max(d.sec, sec)
		d.ring[d.sec%int64(len(d.ring))]++
		var inWindow int32
		for _, n := range d.ring {
			inWindow += n
		}
		d.peak = max(d.peak, inWindow)
		d.total++
		d.last = now
	}
}

// evictLocked forgets the tenth of the documents written longest ago.
func (w *docWrites) evictLocked() {
	type aged struct {
		path string
		last time.Time
	}
	all := make([]aged, 0, len(w.docs))
	for p, d := range w.docs {
		all = append(all, aged{p, d.last})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range all[:len(all)/10+1] {
		delete(w.docs, a.path)
	}
}

// top returns the documents under prefix, busiest (by peak, then writes) first, at most limit of them.
func (w *docWrites) top(prefix string, limit int) []DocWrites {
	w.mu.Lock()
	var out []DocWrites
	for p, d := range w.docs {
		if strings.HasPrefix(p, prefix) {
			out = append(out, DocWrites{Path: p, Writes: d.total, First: d.first, Last: d.last,
				Peak: math.Round(float64(d.peak)/sustainedWindow.Seconds()*100) / 100})
		}
	}
	w.mu.Unlock()
	slices.SortFunc(out, func(a, b DocWrites) int {
		return cmp.Or(cmp.Compare(b.Peak, a.Peak), cmp.Compare(b.Writes, a.Writes), strings.Compare(a.Path, b.Path))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

const (
	methodCommit     = "/google.firestore.v1.Firestore/Commit"
	methodBatchWrite = "/google.firestore.v1.Firestore/BatchWrite"
)

// interceptor counts the writes of every successful Commit and BatchWrite.
func (w *docWrites) interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil {
		return err
	}
	var writes []*firestorepb.Write
	switch method {
	case methodCommit:
		writes = req.(*firestorepb.CommitRequest).GetWrites()
	case methodBatchWrite:
		writes = req.(*firestorepb.BatchWriteRequest).GetWrites()
	default:
		return nil
	}
	names := make([]string, 0, len(writes))
	for _, wr := range writes {
		switch {
		case wr.GetUpdate() != nil:
			names = append(names, wr.GetUpdate().GetName())
		case wr.GetDelete() != "":
			names = append(names, wr.GetDelete())
		case wr.GetTransform() != nil:
			names = append(names, wr.GetTransform().GetDocument())
		}
	}
	w.record(names)
	return nil
}

// emulatorCreds is the bearer token the Firestore emulator expects (as the Firestore library sends it).
type emulatorCreds struct{}

func (emulatorCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (emulatorCreds) RequireTransportSecurity() bool { return false }

// dialEmulator dials the Firestore emulator as the Firestore library does, with the counter in the chain: the
// library ignores dial options when it dials the emulator itself.
func dialEmulator(host string, w *docWrites) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+strings.TrimPrefix(strings.TrimPrefix(host, "http://"), "https://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(emulatorCreds{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithChainUnaryInterceptor(w.interceptor))
}
