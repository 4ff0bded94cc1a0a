package containers

import (
	"maps"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestEventAttributesKeepNameAndImage(t *testing.T) {
	c := &Container{ID: "abc", Name: "web", Image: "alpine:latest",
		Config: container.Config{Labels: map[string]string{"name": "spoofed", "image": "evil:1", "team": "a"}}}
	got := eventAttributes(c, map[string]string{"execID": "e1"})
	want := map[string]string{"name": "web", "image": "alpine:latest", "team": "a", "execID": "e1"}
	if !maps.Equal(got, want) {
		t.Errorf("attributes = %v, want %v", got, want)
	}
}
