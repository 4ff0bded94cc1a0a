package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader reads frames from arbitrary bytes (a hostile or cut body): it never panics, never returns a frame
// beyond its bounds, ends with io.EOF only between frames, and every frame it returns encodes back to the bytes it
// was read from.
func FuzzReader(f *testing.F) {
	var seed []byte
	for _, fr := range []Frame{
		{Kind: KindToken, Data: []byte("k=logs&id=x")},
		{Kind: KindData, Pos: "12", Data: []byte("line\n")},
		{Kind: KindStdinAck, Pos: "5"},
		{Kind: KindEnd, Data: []byte(`{"StatusCode":0}`)},
	} {
		seed, _ = Append(seed, fr)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{KindData, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		read := 0
		for {
			fr, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) && read != len(data) {
					t.Fatalf("io.EOF after %d of %d bytes", read, len(data))
				}
				return
			}
			if len(fr.Pos) > 255 || len(fr.Data) > maxData {
				t.Fatalf("frame beyond bounds: pos %d, data %d bytes", len(fr.Pos), len(fr.Data))
			}
			enc, err := Append(nil, fr)
			if err != nil {
				t.Fatalf("a frame read does not encode: %v", err)
			}
			if !bytes.Equal(enc, data[read:read+len(enc)]) {
				t.Fatalf("frame %+v encodes to %x, read from %x", fr, enc, data[read:read+len(enc)])
			}
			read += len(enc)
		}
	})
}
