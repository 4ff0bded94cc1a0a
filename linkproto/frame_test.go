package linkproto

import (
	"bytes"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
	}{
		{"chunk", Frame{Type: FrameChunk, Stream: StreamStderr, Seq: 1 << 40, Time: -5, Data: []byte("hello\n")}},
		{"meta and data", Frame{Type: FrameOpen, Seq: 7, Code: -128, Meta: []byte(`{"kind":"exec"}`), Data: []byte{0, 1}}},
		{"empty", Frame{Type: FrameGoAway}},
		{"credit", Frame{Type: FrameCredit, Seq: Window}},
		{"session with a window", Frame{Type: FrameSession, Seq: 3, Code: Window}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Frame
			if err := got.Unmarshal(tt.f.Marshal()); err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.f.Type || got.Stream != tt.f.Stream || got.Seq != tt.f.Seq || got.Time != tt.f.Time ||
				got.Code != tt.f.Code || !bytes.Equal(got.Meta, tt.f.Meta) || !bytes.Equal(got.Data, tt.f.Data) {
				t.Fatalf("got %+v, want %+v", got, tt.f)
			}
		})
	}
}

func TestFrameRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {99, 0, 0, 0, 0, 0}, {byte(FrameHealth) + 1, 0, 0, 0, 0, 0}, {byte(FrameChunk), 0, 0, 0, 0, 50, 1}} {
		var f Frame
		if err := f.Unmarshal(b); err == nil {
			t.Errorf("Unmarshal(%v) succeeded", b)
		}
	}
}
