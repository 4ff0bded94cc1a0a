package proxyproto

import (
	"bufio"
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

// TestReaderReady: Ready is true only while the next frame is whole in the buffer.
func TestReaderReady(t *testing.T) {
	one, _ := Append(nil, Frame{Kind: KindData, Pos: "7", Data: []byte("line\n")})
	two := append(append([]byte{}, one...), one...)
	pr, pw := io.Pipe()
	r := NewReader(bufio.NewReader(pr))
	go func() { pw.Write(two[:len(one)+3]); pw.Write(two[len(one)+3:]); pw.Close() }()
	if r.Ready() {
		t.Fatal("ready before anything arrived")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Ready() { // the first write held 3 bytes of the second frame
		t.Fatal("ready with only part of the next frame buffered")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	whole := NewReader(bufio.NewReader(bytes.NewReader(two)))
	if _, err := whole.Next(); err != nil || !whole.Ready() {
		t.Fatalf("after the first of two buffered frames: ready %v, err %v", whole.Ready(), err)
	}
	if NewReader(bytes.NewReader(two)).Ready() {
		t.Fatal("a reader without a buffer claimed a frame ready")
	}
}
