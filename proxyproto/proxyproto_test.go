package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	frames := []Frame{
		{Kind: KindToken, Data: []byte("k=logs&id=x")},
		{Kind: KindData, Pos: "12", Data: []byte("line\n")},
		{Kind: KindStdinAck, Pos: "5"},
		{Kind: KindEnd, Data: []byte(`{"StatusCode":0}`)},
	}
	var buf bytes.Buffer
	for _, f := range frames {
		if err := Write(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	whole := buf.Bytes()
	r := NewReader(bytes.NewReader(whole))
	for i, want := range frames {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Kind != want.Kind || got.Pos != want.Pos || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("frame %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	// A body cut inside a frame is not a clean end.
	r = NewReader(bytes.NewReader(whole[:len(whole)-3]))
	for range 3 {
		r.Next()
	}
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := Append(nil, Frame{Kind: KindData, Data: make([]byte, maxData+1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}
