package linkproto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FrameType says what a Frame means; see the constants.
type FrameType uint8

// Frame types. The comment says who sends each and on which stream.
const (
	_ FrameType = iota
	// FrameHello: agent → control plane, first frame of Control (Meta: Hello) and of Output (Meta: OutputHello).
	FrameHello
	// FrameOpen: control plane → agent on Control. Seq is the session ID, Meta an OpenSpec.
	FrameOpen
	// FrameGoAway: control plane → agent on Control: the server is draining; redial now.
	FrameGoAway
	// FrameChunk: agent → control plane on Output. Stream (1 stdout, 2 stderr), Seq, Time, Data.
	FrameChunk
	// FrameAck: control plane → agent on Output. Seq is the highest durable sequence; Code 1 acknowledges the exit.
	FrameAck
	// FrameExit: agent → control plane on Output, after the last chunk. Code is the exit code, Time the exit time,
	// Meta an ExitInfo or nothing.
	FrameExit
	// FrameSession: agent → control plane, first frame of a Session stream. Seq is the session ID, Code the agent's
	// receive window (see Flow; 0 from an agent without flow control).
	FrameSession
	// FrameData: session bytes. Stream 0 is stdin (control plane → agent), 1 stdout and 2 stderr (agent → control
	// plane); archive bytes use stream 0 in either direction.
	FrameData
	// FrameClose: the sender's stream Stream has ended (stdin half-close, end of an archive).
	FrameClose
	// FrameResize: control plane → agent. Seq is the height, Code the width.
	FrameResize
	// FrameSignal: control plane → agent in a session. Code is the signal number.
	FrameSignal
	// FrameStarted: agent → control plane: the session's process started; Code is its PID.
	FrameStarted
	// FrameResult: agent → control plane, the session's last frame. Code is an exit code where one exists, Meta a
	// JSON result (PathStat, Top, Stats).
	FrameResult
	// FrameError: agent → control plane, the session failed. Meta is an Error.
	FrameError
	// FrameCredit: either way in a session, from a side whose peer declared a window (see Flow): the sender may
	// send Seq more Data bytes.
	FrameCredit
	// FramePorts: agent → control plane on Control, whenever its container's listening TCP ports change and after
	// every hello. Meta: Ports.
	FramePorts
	// FramePeers: control plane → agent on Control: the containers this one reaches on its networks, whole each
	// time (an empty list removes every peer). Meta: Peers.
	FramePeers
	// FrameHealth: agent → control plane on Control, after every healthcheck probe and after every hello (while the
	// container has a healthcheck). Meta: Health.
	FrameHealth
)

// Output stream numbers, as Docker numbers them in its multiplexed stream.
const (
	StreamStdin  uint8 = 0
	StreamStdout uint8 = 1
	StreamStderr uint8 = 2
)

// Frame is the one message of the link. Which fields matter depends on Type.
type Frame struct {
	Type   FrameType
	Stream uint8
	Seq    uint64
	Time   int64 // Unix nanoseconds
	Code   int64
	Meta   []byte
	Data   []byte
}

// MaxChunk is the most bytes a sender puts in one Data frame: small enough for smooth interleaving of streams and
// well under gRPC's default 4 MiB message limit.
const MaxChunk = 32 << 10

// BulkChunk is the Data size of bulk transfers (docker cp's tar streams): big frames cost less CPU per byte (fewer
// gRPC messages, flushes and credit steps), and a frame this size plus its header fits gRPC's 1 MiB pooled buffer
// exactly. (A MaxChunk frame plus header lands in that same tier too, which gRPC zeroes whole on every message.)
const BulkChunk = 1<<20 - 1<<10

// errShort reports a truncated frame.
var errShort = errors.New("linkproto: truncated frame")

// Marshal encodes f: type, stream, uvarint seq, varint time, varint code, uvarint len(meta), meta, data.
func (f *Frame) Marshal() []byte {
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+binary.MaxVarintLen32+len(f.Meta)+len(f.Data))
	b = append(b, byte(f.Type), f.Stream)
	b = binary.AppendUvarint(b, f.Seq)
	b = binary.AppendVarint(b, f.Time)
	b = binary.AppendVarint(b, f.Code)
	b = binary.AppendUvarint(b, uint64(len(f.Meta)))
	b = append(b, f.Meta...)
	return append(b, f.Data...)
}

// Unmarshal decodes b into f. Meta and Data alias b.
func (f *Frame) Unmarshal(b []byte) error {
	if len(b) < 2 {
		return errShort
	}
	f.Type, f.Stream = FrameType(b[0]), b[1]
	b = b[2:]
	var n int
	if f.Seq, n = binary.Uvarint(b); n <= 0 {
		return errShort
	}
	b = b[n:]
	if f.Time, n = binary.Varint(b); n <= 0 {
		return errShort
	}
	b = b[n:]
	if f.Code, n = binary.Varint(b); n <= 0 {
		return errShort
	}
	b = b[n:]
	ml, n := binary.Uvarint(b)
	if n <= 0 || ml > uint64(len(b)-n) {
		return errShort
	}
	b = b[n:]
	f.Meta, f.Data = nil, nil
	if ml > 0 {
		f.Meta = b[:ml]
	}
	if rest := b[ml:]; len(rest) > 0 {
		f.Data = rest
	}
	if f.Type == 0 || f.Type > FrameHealth {
		return fmt.Errorf("linkproto: unknown frame type %d", f.Type)
	}
	return nil
}
