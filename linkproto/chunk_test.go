package linkproto

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A short read keeps frames small; once a read fills its buffer, the next may carry up to BulkChunk; every byte
// comes through once, in order.
func TestChunkerGrowsForBulk(t *testing.T) {
	var c Chunker
	small, err := c.Read(strings.NewReader("hello"))
	if err != nil || string(small) != "hello" {
		t.Fatalf("small read = %q, %v", small, err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	r := bytes.NewReader(data)
	var got []byte
	var sizes []int
	for {
		b, err := c.Read(r)
		got = append(got, b...)
		if len(b) > 0 {
			sizes = append(sizes, len(b))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, want %d", len(got), len(data))
	}
	if sizes[0] != MaxChunk || sizes[1] != BulkChunk {
		t.Errorf("frame sizes %v: want a MaxChunk read, then BulkChunk ones", sizes[:min(len(sizes), 4)])
	}
}
