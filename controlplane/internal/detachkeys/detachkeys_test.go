package detachkeys

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		bad  bool
	}{
		{in: "", want: []byte{16, 17}},
		{in: "ctrl-p,ctrl-q", want: []byte{16, 17}},
		{in: "ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", want: []byte{0, 1, 26, 27, 28, 29, 30, 31}},
		{in: "a,b,DEL", want: []byte{'a', 'b', 127}},
		{in: "foo", bad: true},
		{in: "ctrl-P", bad: true},
		{in: "ctrl-", bad: true},
		{in: "a,,b", bad: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.bad != (err != nil) || !bytes.Equal(got, tt.want) {
			t.Errorf("Parse(%q) = %v, %v", tt.in, got, err)
		}
	}
	if _, err := Parse("foo"); err == nil || err.Error() != "Unknown character: 'foo'" {
		t.Errorf("Parse(foo) error = %v", err)
	}
}

func TestReader(t *testing.T) {
	keys := []byte{16, 17}
	tests := []struct {
		name, in, want string
		detached       bool
	}{
		{name: "no sequence", in: "hello\n", want: "hello\n"},
		{name: "sequence", in: "ab\x10\x11cd", want: "ab", detached: true},
		{name: "half a sequence is input", in: "a\x10b", want: "a\x10b"},
		{name: "half a sequence at the end is input", in: "a\x10", want: "a\x10"},
		{name: "repeated start", in: "\x10\x10\x11", want: "\x10", detached: true},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			var src io.Reader = bytes.NewReader([]byte(tt.in))
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			got, err := io.ReadAll(NewReader(src, keys))
			if string(got) != tt.want || errors.Is(err, ErrDetached) != tt.detached || (!tt.detached && err != nil) {
				t.Errorf("%s (one byte at a time %v): read %q, %v", tt.name, oneByte, got, err)
			}
		}
	}
}
