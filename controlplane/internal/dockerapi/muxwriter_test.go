package dockerapi

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/proxyproto"
)

// countingWriter records what reached the HTTP stream: the bytes, the writes and the flushes, and the bytes that
// were flushed.
type countingWriter struct {
	bytes.Buffer
	writes, flushes int
	flushed         int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.Buffer.Write(p) }
func (c *countingWriter) flush() error                { c.flushes++; c.flushed = c.Len(); return nil }

// chunkLines is n lines read in one chunk: every entry but the last has More, as livelogs yields them.
func chunkLines(n int) iter.Seq2[containers.LogLine, error] {
	return func(yield func(containers.LogLine, error) bool) {
		t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		for i := range n {
			l := containers.LogLine{Stream: 1 + i%2, Time: t0.Add(time.Duration(i)), Data: []byte(strconv.Itoa(i) + "\n"),
				Seq: 1, Offset: i + 1, More: i < n-1}
			if !yield(l, nil) {
				return
			}
		}
	}
}

// TestCopyLinesGathersWrites: 20,000 lines of one chunk reach the HTTP stream in a few writes and one flush, and the
// client still reads one frame per line with its position and timestamp, framed or plain.
func TestCopyLinesGathersWrites(t *testing.T) {
	const n = 20000
	h := &Handler{}
	for _, framed := range []bool{false, true} {
		t.Run(fmt.Sprintf("framed=%v", framed), func(t *testing.T) {
			var cw countingWriter
			mw := &muxWriter{w: &cw, flush: cw.flush, framed: framed}
			if !h.copyLines(context.Background(), mw, chunkLines(n), true) {
				t.Fatal("copyLines did not finish")
			}
			if cw.flushed != cw.Len() {
				t.Fatalf("%d of %d bytes flushed at the end of the chunk", cw.flushed, cw.Len())
			}
			if cw.writes > cw.Len()/pendMax+2 || cw.flushes != 1 {
				t.Fatalf("%d writes and %d flushes for %d lines (%d bytes), want about one write per %d bytes and one flush",
					cw.writes, cw.flushes, n, cw.Len(), pendMax)
			}
			body := cw.Bytes()
			if framed { // unwrap the frames: one per line, each with the line's position
				var plain bytes.Buffer
				r := proxyproto.NewReader(bytes.NewReader(body))
				for i := 0; ; i++ {
					f, err := r.Next()
					if err != nil {
						if i != n {
							t.Fatalf("%d frames, want %d (%v)", i, n, err)
						}
						break
					}
					if want := fmt.Sprintf("2.%d", i+1); f.Kind != proxyproto.KindData || f.Pos != want {
						t.Fatalf("frame %d: kind %c pos %q, want data at %q", i, f.Kind, f.Pos, want)
					}
					plain.Write(f.Data)
				}
				body = plain.Bytes()
			}
			var stdout, stderr bytes.Buffer
			if _, err := stdcopy.StdCopy(&stdout, &stderr, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			first := "2026-11-29T12:00:00.000000000Z 0\n2026-11-29T12:00:00.000000002Z 2\n"
			if !bytes.HasPrefix(stdout.Bytes(), []byte(first)) || bytes.Count(stdout.Bytes(), []byte{'\n'})+bytes.Count(stderr.Bytes(), []byte{'\n'}) != n {
				t.Fatalf("stdout begins %q (want %q), %d+%d lines", stdout.String()[:min(80, stdout.Len())], first,
					bytes.Count(stdout.Bytes(), []byte{'\n'}), bytes.Count(stderr.Bytes(), []byte{'\n'}))
			}
		})
	}
}

// TestMuxWriterFlushesAtOnce: an entry with nothing after it at hand (a live line) is written and flushed at once,
// and close writes what a failed stream had gathered.
func TestMuxWriterFlushesAtOnce(t *testing.T) {
	var cw countingWriter
	mw := &muxWriter{w: &cw, flush: cw.flush, raw: true}
	if err := mw.writeEntry(1, []byte("a\n"), "", false); err != nil || cw.Len() != 0 {
		t.Fatalf("an entry with more at hand was written at once (%d bytes, %v)", cw.Len(), err)
	}
	if err := mw.writeEntry(1, []byte("b\n"), "", true); err != nil || cw.String() != "a\nb\n" || cw.flushed != 4 {
		t.Fatalf("after the last entry at hand: %q, %d flushed, %v", cw.String(), cw.flushed, err)
	}
	mw.writeEntry(1, []byte("c\n"), "", false)
	mw.close()
	if cw.String() != "a\nb\nc\n" || cw.flushed != 6 {
		t.Fatalf("after close: %q, %d flushed", cw.String(), cw.flushed)
	}
	if err := mw.writeEntry(1, []byte("d\n"), "", true); err == nil || cw.String() != "a\nb\nc\n" {
		t.Fatalf("a write after close: %v, stream %q", err, cw.String())
	}
}

// BenchmarkCopyLines: the control plane's side of `docker logs -t` of short lines, per line.
func BenchmarkCopyLines(b *testing.B) {
	h := &Handler{}
	lines := chunkLines(10000)
	b.ReportAllocs()
	for b.Loop() {
		var cw countingWriter
		h.copyLines(context.Background(), &muxWriter{w: &cw, flush: cw.flush, framed: true}, lines, true)
	}
}
