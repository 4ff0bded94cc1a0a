package livelogs

import (
	"strings"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// Chunks become Docker's log entries, as the reference engine's json-file driver makes them: one per line with the
// time its newline arrived; pieces joined; a line past 16 KiB cut into partial entries sharing the first one's
// time; the unfinished end logged only at flush, without a newline; each stream its own line.
func TestLineJoiner(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }
	x16 := strings.Repeat("x", maxLine)
	type entry struct {
		stream int
		data   string
		ms     int
		seq    uint64
	}
	tests := []struct {
		name    string
		chunks  []Chunk
		want    []entry // before flush
		flush   []entry
		nsApart bool // the second entry is 1 ns after its ms
	}{
		{name: "a line per chunk",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte("l1\n")}, {Stream: 1, Seq: 2, Time: at(2), Data: []byte("l2\n")}},
			want:   []entry{{1, "l1\n", 1, 1}, {1, "l2\n", 2, 2}}},
		{name: "several lines in one chunk: its time, a nanosecond apart",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte("a\nb\n")}},
			want:   []entry{{1, "a\n", 1, 0}, {1, "b\n", 1, 1}}, nsApart: true},
		{name: "pieces joined, stamped when the newline came; the end flushed as it is",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte("part")}, {Stream: 1, Seq: 2, Time: at(2), Data: []byte("rest\n")},
				{Stream: 1, Seq: 3, Time: at(3), Data: []byte("z")}},
			want:  []entry{{1, "partrest\n", 2, 2}},
			flush: []entry{{1, "z", 3, 3}}},
		{name: "streams keep their own lines; a pending line holds the position back",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte("out-")}, {Stream: 2, Seq: 2, Time: at(2), Data: []byte("err\n")},
				{Stream: 1, Seq: 3, Time: at(3), Data: []byte("end\n")}},
			want: []entry{{2, "err\n", 2, 0}, {1, "out-end\n", 3, 3}}},
		{name: "a 20 KiB line is a 16 KiB partial entry and the rest, one time",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte(x16[:10000])}, {Stream: 1, Seq: 2, Time: at(2), Data: []byte(x16[:10000])},
				{Stream: 1, Seq: 3, Time: at(3), Data: []byte(strings.Repeat("y", 480) + "\n")}},
			want: []entry{{1, x16, 2, 1}, {1, strings.Repeat("x", 20000-maxLine) + strings.Repeat("y", 480) + "\n", 2, 3}}},
		{name: "exactly 16 KiB then the newline: a partial entry and an empty last one",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte(x16 + "\n")}},
			want:   []entry{{1, x16, 1, 0}, {1, "\n", 1, 1}}},
		{name: "16 KiB less one, then the newline: one entry",
			chunks: []Chunk{{Stream: 1, Seq: 1, Time: at(1), Data: []byte(x16[1:] + "\n")}},
			want:   []entry{{1, x16[1:] + "\n", 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []containers.LogLine
			out := func(l containers.LogLine) bool { got = append(got, l); return true }
			j := &lineJoiner{}
			for _, c := range tc.chunks {
				j.add(c, out)
			}
			check := func(what string, want []entry) {
				t.Helper()
				if tc.nsApart && len(got) == 2 {
					got[1].Time = got[1].Time.Add(-time.Nanosecond)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d entries; want %d: %+v", what, len(got), len(want), got)
				}
				for i, w := range want {
					g := got[i]
					if g.Stream != w.stream || string(g.Data) != w.data || !g.Time.Equal(at(w.ms)) || g.Seq != w.seq {
						t.Errorf("%s %d: stream %d %.30q at %v pos %d; want stream %d %.30q at %v pos %d", what, i,
							g.Stream, g.Data, g.Time.Sub(at(0)), g.Seq, w.stream, w.data, time.Duration(w.ms)*time.Millisecond, w.seq)
					}
				}
			}
			check("added", tc.want)
			got = nil
			j.flush(out)
			check("flushed", tc.flush)
		})
	}
}

// More tells the writer another entry of the same chunk follows at once; the last complete line before a pending
// piece is not More (it must be flushed: the piece may wait long for its newline).
func TestLineJoinerMore(t *testing.T) {
	var got []containers.LogLine
	j := &lineJoiner{}
	j.add(Chunk{Stream: 1, Seq: 1, Time: time.Unix(1, 0), Data: []byte("a\nb\nprompt> ")}, func(l containers.LogLine) bool { got = append(got, l); return true })
	if len(got) != 2 || !got[0].More || got[1].More {
		t.Fatalf("entries %+v; want a (More) and b (not More)", got)
	}
}

// The unfinished end of a read that also completed lines is later than those lines, so --until at the last of them
// leaves it out, as Docker (which logs it only at the stream's end) does.
func TestUnfinishedEndIsAfterTheLinesOfItsRead(t *testing.T) {
	j := &lineJoiner{}
	var got []containers.LogLine
	collect := func(l containers.LogLine) bool { got = append(got, l); return true }
	j.add(Chunk{Stream: 1, Seq: 1, Time: time.Unix(1000, 0), Data: []byte("rest\nshort\nz")}, collect)
	j.flush(collect)
	if len(got) != 3 || string(got[2].Data) != "z" {
		t.Fatalf("%d entries; want rest, short, z", len(got))
	}
	for i := 1; i < len(got); i++ {
		if !got[i].Time.After(got[i-1].Time) {
			t.Errorf("entry %q at %v is not after %q at %v", got[i].Data, got[i].Time, got[i-1].Data, got[i-1].Time)
		}
	}
}
