package containers

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

func TestLogDriversAsDocker(t *testing.T) {
	for _, c := range []struct {
		driver string
		err    string // "" = accepted
	}{
		{"", ""}, {"json-file", ""}, {"none", ""}, {"local", ""}, {"gcplogs", ""}, {"syslog", ""},
		{"bogus", `error looking up logging plugin bogus: plugin "bogus" not found`},
		{"JSON-FILE", `error looking up logging plugin JSON-FILE: plugin "JSON-FILE" not found`},
	} {
		err := checkLogDriver(container.LogConfig{Type: c.driver})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: refused: %v", c.driver, err)
		case c.err != "" && (err == nil || err.Error() != c.err || !errdefs.IsInvalidArgument(err)):
			t.Errorf("%q: got %v, want invalid argument %q", c.driver, err, c.err)
		}
	}
}
