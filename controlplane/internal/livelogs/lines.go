package livelogs

import (
	"bytes"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// maxLine is the longest entry Docker's log copier makes (its 16 KiB buffer): a line that reaches it without a
// newline is cut into partial entries of maxLine bytes, all stamped with the time of the first (moby
// daemon/logger/copier.go; observed on the reference engine: a 20 KiB line is two entries, 16384 and 4097 bytes with
// the newline, one time, and --tail counts them as two).
const maxLine = 16 << 10

// lineJoiner turns the agent's chunks (one read of the output each: several lines, or a piece of one) into Docker's
// log entries, one per line: a line joined from its pieces, stamped with the time its newline arrived, as Docker's
// copier stamps a line when it is complete; a line past maxLine cut as Docker cuts it. Each stream has its own line,
// as each of Docker's streams has its own copier. Bytes after the last newline stay pending until flush: Docker logs
// them only at the stream's end, without a newline.
type lineJoiner struct {
	pend [3]pendingLine // by stream: 1 stdout, 2 stderr (0 for anything else)
}

type pendingLine struct {
	data      []byte
	first     uint64    // sequence of the chunk data began in
	last      uint64    // sequence of the chunk data ended in
	time      time.Time // time of the last chunk
	partialTS time.Time // set once a maxLine piece of this line was emitted: the time every later piece carries
}

// add takes one chunk and calls out with every entry it completes, in order; it reports false when out did.
func (j *lineJoiner) add(c Chunk, out func(containers.LogLine) bool) bool {
	p := &j.pend[streamIndex(c.Stream)]
	d := c.Data
	// Lines of one read get the read's time, each a nanosecond after the one before: Docker's copier stamps each
	// line with its own time.Now(), so no two entries share a time and --since/--until can name one exactly.
	k := 0
	for len(d) > 0 {
		if len(p.data) == 0 {
			p.first = c.Seq
		}
		room := maxLine - len(p.data)
		i := bytes.IndexByte(d, '\n')
		var entry []byte
		t := c.Time
		switch {
		case i >= 0 && i < room: // the line ends here, newline included
			entry, d = join(p.data, d[:i+1]), d[i+1:]
			if !p.partialTS.IsZero() {
				t = p.partialTS
			} else {
				t = t.Add(time.Duration(k))
				k++
			}
			p.partialTS = time.Time{}
		case len(d) >= room: // maxLine without a newline: a partial entry
			entry, d = join(p.data, d[:room]), d[room:]
			if p.partialTS.IsZero() {
				p.partialTS = c.Time
			}
			t = p.partialTS
		default: // the rest of the chunk is a piece of a line still going
			p.data, p.last, p.time = append(p.data, d...), c.Seq, c.Time.Add(time.Duration(k)) // after the lines of this read
			return true
		}
		p.data = nil
		// The position after this entry: the whole chunk if nothing of it is left, and never past a line still
		// pending (a resumed read must see it again).
		pos, off := c.Seq, 0
		if len(d) > 0 {
			pos, off = c.Seq-1, c.Offset+len(c.Data)-len(d)
		}
		if low := j.before(pos); low != pos {
			pos, off = low, 0
		}
		// More: this chunk gives another entry at once (not merely a piece left pending), so no flush is needed.
		more := bytes.IndexByte(d, '\n') >= 0 || len(d) >= maxLine
		if !out(containers.LogLine{Stream: int(c.Stream), Time: t, Data: entry, Seq: pos, Offset: off, More: more}) {
			return false
		}
	}
	return true
}

// before lowers pos below the first chunk of any pending line.
func (j *lineJoiner) before(pos uint64) uint64 {
	for _, p := range j.pend {
		if len(p.data) > 0 && p.first <= pos {
			pos = p.first - 1
		}
	}
	return pos
}

// flush emits the pending pieces as Docker does at a stream's end: as they are, without a newline, stamped with
// their last piece's time (or the line's partial time). It reports false when out did.
func (j *lineJoiner) flush(out func(containers.LogLine) bool) bool {
	for s := range j.pend {
		p := &j.pend[s]
		if len(p.data) == 0 {
			continue
		}
		t := p.time
		if !p.partialTS.IsZero() {
			t = p.partialTS
		}
		l := containers.LogLine{Stream: s, Time: t, Data: p.data, Seq: p.last}
		*p = pendingLine{}
		l.Seq = j.before(l.Seq)
		if !out(l) {
			return false
		}
	}
	return true
}

// join is a+b, without a copy when a is empty (the usual case: a chunk is a whole line).
func join(a, b []byte) []byte {
	if len(a) == 0 {
		return b
	}
	return append(a, b...)
}

func streamIndex(s uint8) int {
	if s == 1 || s == 2 {
		return int(s)
	}
	return 0
}
