package capture

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestChangesAndLayer(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "gone/deep", "keep"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root"), 0o644)
	os.WriteFile(filepath.Join(root, "keep/same"), []byte("same"), 0o644)
	os.WriteFile(filepath.Join(root, "gone/deep/f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/old"), []byte("x"), 0o644)
	s, err := Take(root)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root+me"), 0o644)
	os.MkdirAll(filepath.Join(root, "out"), 0o755)
	os.WriteFile(filepath.Join(root, "out/report.txt"), []byte("report"), 0o600)
	os.RemoveAll(filepath.Join(root, "gone"))
	os.Remove(filepath.Join(root, "etc/old"))

	changes, size, err := s.Changes()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range changes {
		got[c.Path] = c.Kind
	}
	want := map[string]int{"/etc": Modified, "/etc/passwd": Modified, "/etc/old": Deleted, "/gone": Deleted,
		"/out": Added, "/out/report.txt": Added}
	if len(got) != len(want) {
		t.Fatalf("changes = %v, want %v", got, want)
	}
	for p, k := range want {
		if k2, ok := got[p]; !ok || k2 != k {
			t.Fatalf("changes = %v, want %v", got, want)
		}
	}
	if size != int64(len("root+me")+len("report")) {
		t.Errorf("size = %d", size)
	}
	var buf bytes.Buffer
	if err := s.WriteLayer(&buf, changes); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	names := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names[h.Name] = string(b)
	}
	for n, body := range map[string]string{"etc/": "", "etc/passwd": "root+me", "etc/.wh.old": "", ".wh.gone": "", "out/": "",
		"out/report.txt": "report"} {
		if b, ok := names[n]; !ok || b != body {
			t.Errorf("layer entry %s = %q, %v (all %v)", n, b, ok, names)
		}
	}
}
