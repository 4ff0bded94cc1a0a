package hijack

import (
	"bytes"
	"testing"
)

// A multiplexed stream arriving in any pieces comes out as the payloads alone, in order.
func TestDemuxTakesFramesApartAcrossWrites(t *testing.T) {
	frame := func(stream byte, s string) []byte {
		b := []byte{stream, 0, 0, 0, 0, 0, 0, byte(len(s))}
		return append(b, s...)
	}
	stream := append(append(frame(1, "out\n"), frame(2, "err\n")...), frame(1, "")...)
	stream = append(stream, frame(1, "more")...)
	for size := 1; size <= len(stream); size++ {
		var got bytes.Buffer
		d := &demux{w: &got}
		for p := stream; len(p) > 0; {
			n := min(size, len(p))
			if _, err := d.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if got.String() != "out\nerr\nmore" {
			t.Fatalf("pieces of %d: %q", size, got.String())
		}
	}
}
