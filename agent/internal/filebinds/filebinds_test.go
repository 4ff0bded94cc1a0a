package filebinds

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/runsock/runsock/linkproto"
)

func TestPlace(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "staging", "config.yml")
	os.MkdirAll(filepath.Dir(target), 0o755)
	os.WriteFile(target, []byte("from the laptop"), 0o644)
	existing := filepath.Join(dir, "etc", "app.conf")
	os.MkdirAll(filepath.Dir(existing), 0o755)
	os.WriteFile(existing, []byte("from the image"), 0o644)
	fresh := filepath.Join(dir, "new", "deep", "config.yml")
	spec, _ := json.Marshal([]linkproto.FileBind{{Path: existing, Target: target}, {Path: fresh, Target: target}})
	if err := Place(string(spec)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{existing, fresh} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "from the laptop" {
			t.Fatalf("%s = %q, %v", p, b, err)
		}
	}
	// Writes reach the staging.
	os.WriteFile(fresh, []byte("changed inside"), 0o644)
	if b, _ := os.ReadFile(target); string(b) != "changed inside" {
		t.Fatalf("staging = %q", b)
	}
	// A directory at the destination is an error, as Docker refuses a file over a directory.
	spec, _ = json.Marshal([]linkproto.FileBind{{Path: dir, Target: target}})
	if err := Place(string(spec)); err == nil {
		t.Fatal("a directory at the destination was replaced")
	}
}
