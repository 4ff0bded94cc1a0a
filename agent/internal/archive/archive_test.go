package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/runsock/runsock/linkproto"
)

func tarOf(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range entries {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if name[len(name)-1] == '/' {
			hdr = &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	return buf.Bytes()
}

// readTar returns an archive's entries: name → content, or "-> TARGET" for a link.
func readTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
		if h.Linkname != "" {
			got[h.Name] = "-> " + h.Linkname
		}
	}
}

func TestPutThenGet(t *testing.T) {
	plain := tarOf(t, map[string]string{"d/": "", "d/a.txt": "alpha", "d/sub/b.txt": "beta"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	for name, input := range map[string][]byte{"plain": plain, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Put(dir, bytes.NewReader(input), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "d/sub/b.txt")); string(b) != "beta" {
				t.Fatalf("b.txt = %q", b)
			}
			var out bytes.Buffer
			if err := Get(filepath.Join(dir, "d"), &out); err != nil {
				t.Fatal(err)
			}
			got := readTar(t, &out)
			want := map[string]string{"d/": "", "d/a.txt": "alpha", "d/sub/": "", "d/sub/b.txt": "beta"}
			if !maps.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestPutErrors(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	_ = os.Mkdir(filepath.Join(dir, "d"), 0o755)
	tests := []struct {
		name  string
		dest  string
		input []byte
		opts  PutOptions
		kind  string
	}{
		{"missing destination", filepath.Join(dir, "nope"), tarOf(t, map[string]string{"a": "1"}), PutOptions{}, linkproto.ErrKindNotFound},
		{"destination is a file", filepath.Join(dir, "f"), tarOf(t, map[string]string{"a": "1"}), PutOptions{}, linkproto.ErrKindInvalid},
		{"dir over file refused", dir, tarOf(t, map[string]string{"f/": ""}), PutOptions{NoOverwriteDirNonDir: true}, linkproto.ErrKindInvalid},
		{"file over dir refused", dir, tarOf(t, map[string]string{"d": "1"}), PutOptions{NoOverwriteDirNonDir: true}, linkproto.ErrKindInvalid},
		{"xz", dir, []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, PutOptions{}, linkproto.ErrKindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Put(tt.dest, bytes.NewReader(tt.input), tt.opts)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind {
				t.Fatalf("err = %v, want kind %s", err, tt.kind)
			}
		})
	}
	if _, err := Stat(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
}

// A layer's whiteouts delete what they name (a file, a directory with its contents); an ordinary archive's
// ".wh." entries are files like any other.
func TestPutLayerWhiteouts(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gone.txt"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "tree", "sub", "f"), []byte("x"), 0o644)
	layer := tarOf(t, map[string]string{".wh.gone.txt": "", ".wh.tree": "", "new/": "", "new/n.txt": "n"})
	if err := Put(dir, bytes.NewReader(layer), PutOptions{Layer: true, CopyUIDGID: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gone.txt", "tree", ".wh.gone.txt", ".wh.tree"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s after the layer: %v, want it gone", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "new", "n.txt")); string(b) != "n" {
		t.Errorf("new/n.txt = %q", b)
	}
	plain := t.TempDir()
	if err := Put(plain, bytes.NewReader(tarOf(t, map[string]string{".wh.x": "w"})), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(plain, ".wh.x")); string(b) != "w" {
		t.Errorf("an ordinary archive's .wh.x = %q", b)
	}
}
