package detachkeys

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Default is Docker's detach sequence when none is given: ctrl-p, ctrl-q.
var Default = []byte{16, 17}

// ErrDetached is what a Reader returns once the client has typed the detach sequence.
var ErrDetached = errors.New("read escape sequence")

// Parse turns a detach keys value into bytes as Docker's term.ToBytes does: comma-separated keys, each a single
// character, "ctrl-X" for X one of @, a–z, [, \, ], ^, _, or "DEL". An empty value is Default.
func Parse(keys string) ([]byte, error) {
	if keys == "" {
		return Default, nil
	}
	var codes []byte
	for _, key := range strings.Split(keys, ",") {
		switch {
		case len(key) == 1:
			codes = append(codes, key[0])
		case key == "DEL":
			codes = append(codes, 127)
		case len(key) == 6 && strings.HasPrefix(key, "ctrl-") && ctrlCode(key[5]) >= 0:
			codes = append(codes, byte(ctrlCode(key[5])))
		default:
			return nil, fmt.Errorf("Unknown character: '%s'", key)
		}
	}
	return codes, nil
}

// ctrlCode is the control code of ctrl-c (c after "ctrl-"), or -1.
func ctrlCode(c byte) int {
	switch {
	case c == '@':
		return 0
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 1
	case c >= '[' && c <= '_':
		return int(c-'[') + 27
	}
	return -1
}

// Reader passes input through until the detach sequence, which it keeps back and answers with ErrDetached. Bytes
// that begin the sequence are held until the next read shows whether it continues; a sequence split across reads
// is still seen.
type Reader struct {
	r    io.Reader
	keys []byte
	held int // how many bytes of keys the input ended with so far
	out  []byte
	err  error
}

// NewReader wraps r; keys empty means no detach sequence.
func NewReader(r io.Reader, keys []byte) *Reader { return &Reader{r: r, keys: keys} }

func (d *Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		d.scan(buf[:n])
		if err != nil && d.err == nil {
			d.out = append(d.out, d.keys[:d.held]...) // what was held was input after all
			d.held, d.err = 0, err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// scan moves input to out, holding a possible start of the sequence and stopping at a whole one.
func (d *Reader) scan(b []byte) {
	if len(d.keys) == 0 {
		d.out = append(d.out, b...)
		return
	}
	for i, c := range b {
		if c == d.keys[d.held] {
			d.held++
			if d.held == len(d.keys) {
				d.held, d.err = 0, ErrDetached
				return
			}
			continue
		}
		// Not the sequence: what was held is input, and c may itself begin the sequence.
		d.out = append(d.out, d.keys[:d.held]...)
		d.held = 0
		if c == d.keys[0] {
			d.held = 1
			if len(d.keys) == 1 {
				d.held, d.err = 0, ErrDetached
				return
			}
			continue
		}
		d.out = append(d.out, b[i])
	}
}
