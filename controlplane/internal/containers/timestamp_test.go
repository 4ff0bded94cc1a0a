package containers_test

import (
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/containers"
)

// --since/--until as the CLI sends them keep every nanosecond: a bound taken from `logs --timestamps` names its
// entry exactly.
func TestParseTimestampKeepsNanoseconds(t *testing.T) {
	now := time.Unix(1764435000, 0)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1764435162.872220123", time.Unix(1764435162, 872220123)},
		{"1764435162.5", time.Unix(1764435162, 500000000)},
		{"1764435162", time.Unix(1764435162, 0)},
		{"2025-11-29T16:52:42.872220123Z", time.Unix(1764435162, 872220123)},
		{"10m", now.Add(-10 * time.Minute)},
	} {
		got, err := containers.ParseTimestamp(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.in, got.UTC().Format(time.RFC3339Nano), err, tc.want.UTC().Format(time.RFC3339Nano))
		}
	}
	for _, bad := range []string{"12.", "12.x", "12.1234567890", "soon"} {
		if _, err := containers.ParseTimestamp(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
