package dockerapi

import (
	"net/http/httptest"
	"testing"
)

// Resize sizes are read as Docker's Uint32Value reads them, with Docker's messages.
func TestResizeSize(t *testing.T) {
	tests := []struct {
		query, err string
		h, w       uint
	}{
		{query: "h=40&w=120", h: 40, w: 120},
		{query: "h=0&w=0", h: 0, w: 0},
		{query: "h=70000&w=4294967295", h: 70000, w: 4294967295},
		{query: "", err: `invalid resize height "": invalid syntax`},
		{query: "h=10", err: `invalid resize width "": invalid syntax`},
		{query: "h=x&w=10", err: `invalid resize height "x": invalid syntax`},
		{query: "h=%2B1&w=10", err: `invalid resize height "+1": invalid syntax`},
		{query: "h=-1&w=10", err: `invalid resize height "-1": value out of range`},
		{query: "h=10&w=-1", err: `invalid resize width "-1": value out of range`},
		{query: "h=10&w=4294967296", err: `invalid resize width "4294967296": value out of range`},
	}
	for _, tt := range tests {
		h, w, err := size(httptest.NewRequest("POST", "/exec/x/resize?"+tt.query, nil))
		if tt.err != "" {
			if err == nil || err.Error() != tt.err || statusOf(err) != 400 {
				t.Errorf("%q: %v, want 400 %q", tt.query, err, tt.err)
			}
			continue
		}
		if err != nil || h != tt.h || w != tt.w {
			t.Errorf("%q: %d×%d, %v", tt.query, h, w, err)
		}
	}
}
