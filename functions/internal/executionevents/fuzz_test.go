package executionevents

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/runsock/runsock/executiondoc"
)

// FuzzParseEntry reads arbitrary bytes as a Pub/Sub push body's message, as HandleEvent does: it never panics, and
// an outcome it accepts says what the entry's text says, with an exit code Docker can show (0-255).
func FuzzParseEntry(f *testing.F) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123456000, time.UTC)
	for _, text := range []string{
		"Container called exit(3).", "Container terminated on signal 9.",
		"Memory limit of 512 MiB exceeded with 530 MiB used.",
		"Terminating task because it has reached the maximum timeout of 2 seconds.",
		"Stopping task rs-abc-x1y2z-task0 because its execution was cancelled.",
		"Container called exit(99999999999999999999).", "Container terminated on signal 4294967297.",
	} {
		entry := systemEntry("rs-abc-x1y2z", "id1", text, at)
		body, _ := json.Marshal(map[string]any{"message": map[string]any{"data": entry, "messageId": "1"}, "subscription": "s"})
		f.Add(body)
	}
	f.Add([]byte(`{"message":{"data":"not base64!"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var m messagePublished
		if err := json.Unmarshal(body, &m); err != nil {
			return
		}
		o, err := ParseEntry(m.Message.Data)
		if err != nil {
			return
		}
		if o.Execution == "" || o.Time.IsZero() {
			t.Fatalf("outcome without execution or time: %+v", o)
		}
		switch o.Kind {
		case executiondoc.KindOOM, executiondoc.KindTimeout, executiondoc.KindExit, executiondoc.KindCancelled, executiondoc.KindSignal:
		default:
			t.Fatalf("unknown kind %q", o.Kind)
		}
		if o.ExitCode < 0 || o.ExitCode > 255 {
			t.Fatalf("exit code %d out of range: %+v", o.ExitCode, o)
		}
		switch o.Kind {
		case executiondoc.KindExit:
			if d := reExit.FindStringSubmatch(o.Message); d == nil || strconv.Itoa(o.ExitCode) != trimZeros(d[1]) {
				t.Fatalf("exit code %d from %q", o.ExitCode, o.Message)
			}
		case executiondoc.KindSignal:
			if d := reSignal.FindStringSubmatch(o.Message); d == nil || strconv.Itoa(o.Signal) != trimZeros(d[1]) || o.ExitCode != 128+o.Signal || o.Signal == 0 {
				t.Fatalf("signal %d, exit code %d from %q", o.Signal, o.ExitCode, o.Message)
			}
		}
	})
}

func trimZeros(d string) string {
	for len(d) > 1 && d[0] == '0' {
		d = d[1:]
	}
	return d
}

// TestParseEntryRefusesUnreadableCodes: what FuzzParseEntry found. A code that did not fit an int was recorded as
// the largest int, and codes beyond 255 (signals past 127) as they came; Docker's exit codes are 0-255.
func TestParseEntryRefusesUnreadableCodes(t *testing.T) {
	at := time.Now()
	for _, text := range []string{
		"Container called exit(99999999999999999999).",
		"Container called exit(256).",
		"Container terminated on signal 4294967297.",
		"Container terminated on signal 0.",
		"Container terminated on signal 128.",
	} {
		o, err := ParseEntry(systemEntry("e", "id", text, at))
		if err == nil || errors.Is(err, ErrNotAnOutcome) {
			t.Errorf("%q: %+v, %v; want a malformed-entry error", text, o, err)
		}
	}
}
