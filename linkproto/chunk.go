package linkproto

import "io"

// Chunker reads a byte stream into Data frames of the size the traffic asks for: reads start at MaxChunk and move
// to BulkChunk once one fills its buffer (the reader had more than that waiting: a bulk transfer). An idle or
// interactive connection then holds 32 KiB and sends what each read returns at once; a bulk one sends few large
// frames (fewer gRPC messages, flushes and credit steps per byte on every hop of a relay). The zero value is ready.
type Chunker struct{ buf []byte }

// Read reads once from r; the bytes stay valid until the next Read.
func (c *Chunker) Read(r io.Reader) ([]byte, error) {
	if c.buf == nil {
		c.buf = make([]byte, MaxChunk)
	}
	buf := c.buf
	n, err := r.Read(buf)
	if n == len(buf) && len(buf) < BulkChunk {
		c.buf = make([]byte, BulkChunk) // the bytes read stay in the old buffer
	}
	return buf[:n], err
}
