package linkproto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFrameUnmarshal decodes arbitrary bytes as a link frame (from a peer that may be hostile: code in a container
// can speak the link): it never panics, and a frame it accepts encodes and decodes to itself.
func FuzzFrameUnmarshal(f *testing.F) {
	for _, fr := range []Frame{
		{Type: FrameChunk, Stream: StreamStderr, Seq: 1 << 40, Time: -5, Data: []byte("hello\n")},
		{Type: FrameOpen, Seq: 7, Code: -128, Meta: EncodeMeta(OpenSpec{Kind: KindArchiveGet}), Data: []byte{0, 1}},
		{Type: FrameCredit, Seq: Window},
		{Type: FrameError, Meta: EncodeMeta(Error{Kind: ErrKindInvalid, Message: "x"})},
	} {
		f.Add(fr.Marshal())
	}
	// A frame of a type a later version adds: decoded, reported as ErrUnknownType, skipped by a stream.
	f.Add((&Frame{Type: FrameHealth + 1, Stream: StreamStdout, Seq: 3, Meta: []byte(`{"new":1}`), Data: []byte("x")}).Marshal())
	f.Add([]byte{byte(FrameData), 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		if err := fr.Unmarshal(b); errors.Is(err, ErrUnknownType) {
			// Skipped by a stream, so it must have decoded whole: it encodes back to the same bytes' meaning.
			var again Frame
			if err := again.Unmarshal(fr.Marshal()); !errors.Is(err, ErrUnknownType) || again.Type != fr.Type ||
				again.Seq != fr.Seq || !bytes.Equal(again.Meta, fr.Meta) || !bytes.Equal(again.Data, fr.Data) {
				t.Fatalf("unknown-type frame %+v did not round-trip: %+v, %v", fr, again, err)
			}
			return
		} else if err != nil {
			return
		}
		var again Frame
		if err := again.Unmarshal(fr.Marshal()); err != nil {
			t.Fatalf("re-encoded frame %+v does not decode: %v", fr, err)
		}
		if again.Type != fr.Type || again.Stream != fr.Stream || again.Seq != fr.Seq || again.Time != fr.Time ||
			again.Code != fr.Code || !bytes.Equal(again.Meta, fr.Meta) || !bytes.Equal(again.Data, fr.Data) {
			t.Fatalf("round trip changed the frame: %+v, then %+v", fr, again)
		}
		// Meta is JSON from the peer: decoding it into any of the link's types must fail cleanly or succeed.
		for _, v := range []any{&Hello{}, &OutputHello{}, &OpenSpec{}, &PathStat{}, &Top{}, &Stats{}, &Error{}} {
			_ = DecodeMeta(fr.Meta, v)
		}
	})
}
