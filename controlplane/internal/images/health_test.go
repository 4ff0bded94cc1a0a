package images

import (
	"testing"
	"time"
)

// An image's HEALTHCHECK reaches container create whole, StartInterval included (go-containerregistry's config type
// has no such field), and an image without one has none.
func TestHealthcheckOfImageConfig(t *testing.T) {
	raw := []byte(`{"config":{"Healthcheck":{"Test":["CMD-SHELL","curl -f localhost"],"Interval":1000000000,"Timeout":2000000000,` +
		`"StartPeriod":3000000000,"StartInterval":4000000000,"Retries":5}}}`)
	h := healthcheckOf(raw)
	if h == nil || len(h.Test) != 2 || h.Interval != time.Second || h.Timeout != 2*time.Second || h.StartPeriod != 3*time.Second ||
		h.StartInterval != 4*time.Second || h.Retries != 5 {
		t.Errorf("healthcheckOf = %+v", h)
	}
	for _, raw := range []string{`{"config":{}}`, `not json`} {
		if h := healthcheckOf([]byte(raw)); h != nil {
			t.Errorf("healthcheckOf(%s) = %+v, want nil", raw, h)
		}
	}
}
