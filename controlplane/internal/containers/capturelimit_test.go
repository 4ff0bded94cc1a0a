package containers

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

func TestCaptureLimitLabel(t *testing.T) {
	for _, tt := range []struct {
		label    string // "" for none
		operator int64
		want     int64
		invalid  bool
	}{
		{"", 256 << 20, 256 << 20, false},
		{"4k", 256 << 20, 4 << 10, false},
		{"0", 256 << 20, 0, false},
		{"1g", 256 << 20, 256 << 20, false}, // never above the operator's
		{"4k", 0, 0, false},                 // the operator keeps nothing
		{"lots", 256 << 20, 0, true},
		{"-1", 256 << 20, 0, true},
	} {
		c := &Container{}
		if tt.label != "" {
			c.Config = container.Config{Labels: map[string]string{LabelCaptureLimit: tt.label}}
		}
		got, err := CaptureLimit(c, tt.operator)
		if tt.invalid != errdefs.IsInvalidArgument(err) || got != tt.want {
			t.Errorf("label %q, operator %d: %d, %v; want %d (invalid %v)", tt.label, tt.operator, got, err, tt.want, tt.invalid)
		}
	}
}
