package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/runsock/runsock/linkproto"
)

// hdr is one archive entry; body is a regular file's content.
type hdr struct {
	name, link string
	typ        byte
	body       string
	pax        map[string]string
}

func archiveOf(t testing.TB, entries ...hdr) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), PAXRecords: e.pax}
		switch e.typ {
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = 1, 3
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// typed is one raw archive entry of typeflag typ holding body, which the tar writer would not write itself.
func typed(t testing.TB, typ byte, body string) []byte {
	t.Helper()
	b := archiveOf(t, reg("header", body))
	b = b[:len(b)-1024] // without the end-of-archive blocks
	b[156] = typ
	copy(b[148:156], "        ")
	var sum int
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// paxHeader is a PAX extended header entry holding record ("key=value").
func paxHeader(t testing.TB, record string) []byte {
	n := len(record) + 3
	for len(fmt.Sprintf("%d %s\n", n, record)) != n {
		n = len(fmt.Sprintf("%d %s\n", n, record))
	}
	return typed(t, tar.TypeXHeader, fmt.Sprintf("%d %s\n", n, record))
}

func reg(name, body string) hdr   { return hdr{name: name, typ: tar.TypeReg, body: body} }
func dir(name string) hdr         { return hdr{name: name, typ: tar.TypeDir} }
func symlink(name, to string) hdr { return hdr{name: name, link: to, typ: tar.TypeSymlink} }
func hardlink(name, to string) hdr {
	return hdr{name: name, link: to, typ: tar.TypeLink}
}

// sandbox is an extraction point dst beside a directory outside holding secret; nothing the archive holds may
// change outside.
type sandbox struct{ dst, outside string }

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	top := t.TempDir()
	sb := sandbox{dst: filepath.Join(top, "dst"), outside: filepath.Join(top, "outside")}
	for _, d := range []string{sb.dst, sb.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sb.outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	return sb
}

// untouched fails the test if anything beside dst changed.
func (sb sandbox) untouched(t *testing.T) {
	t.Helper()
	top := filepath.Dir(sb.dst)
	if names := dirNames(t, top); !slices.Equal(names, []string{"dst", "outside"}) {
		t.Errorf("beside the extraction point: %v", names)
	}
	if names := dirNames(t, sb.outside); !slices.Equal(names, []string{"secret"}) {
		t.Errorf("outside holds %v", names)
	}
	if b, err := os.ReadFile(filepath.Join(sb.outside, "secret")); err != nil || string(b) != "secret" {
		t.Errorf("outside/secret = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(sb.outside, "secret")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("outside/secret's mode changed: %v, %v", fi.Mode(), err)
	}
}

func dirNames(t *testing.T, d string) []string {
	t.Helper()
	ents, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPutHostileArchives: what Docker's extraction does with each, or a clear refusal, and never a write outside the
// extraction point. Docker refuses names and links that climb out with ".." (breakout errors) and resolves absolute
// paths inside the container's root; the agent runs in that root, so where a path would lead out of the extraction
// point through a symbolic link it refuses.
func TestPutHostileArchives(t *testing.T) {
	tests := []struct {
		name    string
		pre     func(t *testing.T, sb sandbox)
		entries func(sb sandbox) []hdr
		raw     []byte // the archive, when entries is nil
		wantErr string // "" = extracted
		check   func(t *testing.T, sb sandbox)
	}{
		{name: "dot-dot name refused, as Docker does",
			entries: func(sandbox) []hdr { return []hdr{reg("../escape", "x")} },
			wantErr: `"../escape" is outside of`},
		{name: "dot-dot deep in a name refused",
			entries: func(sandbox) []hdr { return []hdr{reg("a/b/../../../outside/secret", "x")} },
			wantErr: `is outside of`},
		{name: "dot-dot that stays inside",
			entries: func(sandbox) []hdr { return []hdr{reg("a/../b", "x")} },
			check: func(t *testing.T, sb sandbox) {
				if got := readFile(t, filepath.Join(sb.dst, "b")); got != "x" {
					t.Errorf("b = %q", got)
				}
			}},
		{name: "absolute name lands inside, as with Docker",
			entries: func(sb sandbox) []hdr { return []hdr{reg("/abs/file", "x"), reg(sb.outside+"/secret", "y")} },
			check: func(t *testing.T, sb sandbox) {
				if readFile(t, filepath.Join(sb.dst, "abs/file")) != "x" || readFile(t, filepath.Join(sb.dst, sb.outside, "secret")) != "y" {
					t.Error("absolute names not extracted inside")
				}
			}},
		{name: "relative symlink leading out refused, as Docker does",
			entries: func(sandbox) []hdr { return []hdr{symlink("l", "../outside")} },
			wantErr: `invalid symlink "l" -> "../outside"`},
		{name: "relative symlink leading out from a subdirectory refused",
			entries: func(sandbox) []hdr { return []hdr{dir("d/"), symlink("d/l", "../../outside/secret")} },
			wantErr: `invalid symlink "d/l"`},
		{name: "symlink inside is created and followed",
			entries: func(sandbox) []hdr { return []hdr{dir("sub/"), symlink("l", "sub"), reg("l/f", "x")} },
			check: func(t *testing.T, sb sandbox) {
				if readFile(t, filepath.Join(sb.dst, "sub/f")) != "x" {
					t.Error("sub/f not written through the link")
				}
			}},
		{name: "absolute symlink is created, as Docker does",
			entries: func(sb sandbox) []hdr { return []hdr{symlink("l", sb.outside)} },
			check: func(t *testing.T, sb sandbox) {
				if to, err := os.Readlink(filepath.Join(sb.dst, "l")); err != nil || to != sb.outside {
					t.Errorf("l -> %q, %v", to, err)
				}
			}},
		{name: "write through an absolute symlink refused",
			entries: func(sb sandbox) []hdr { return []hdr{symlink("l", sb.outside), reg("l/pwned", "x")} },
			wantErr: `extract "l/pwned"`},
		{name: "write through a symlink already in the destination refused",
			pre: func(t *testing.T, sb sandbox) {
				if err := os.Symlink(sb.outside, filepath.Join(sb.dst, "pre")); err != nil {
					t.Fatal(err)
				}
			},
			entries: func(sandbox) []hdr { return []hdr{reg("pre/secret", "x")} },
			wantErr: `extract "pre/secret"`},
		{name: "file over a symlink to a file outside replaces the link",
			entries: func(sb sandbox) []hdr {
				return []hdr{symlink("l", filepath.Join(sb.outside, "secret")), reg("l", "mine")}
			},
			check: func(t *testing.T, sb sandbox) {
				if fi, err := os.Lstat(filepath.Join(sb.dst, "l")); err != nil || !fi.Mode().IsRegular() || readFile(t, filepath.Join(sb.dst, "l")) != "mine" {
					t.Errorf("l: %v, %v", fi, err)
				}
			}},
		{name: "directory over a symlink leading out replaces the link",
			entries: func(sb sandbox) []hdr { return []hdr{symlink("d", sb.outside), dir("d/"), reg("d/f", "x")} },
			check: func(t *testing.T, sb sandbox) {
				if fi, err := os.Lstat(filepath.Join(sb.dst, "d")); err != nil || !fi.IsDir() || readFile(t, filepath.Join(sb.dst, "d/f")) != "x" {
					t.Errorf("d: %v, %v", fi, err)
				}
			}},
		{name: "hard link leading out refused, as Docker does",
			entries: func(sandbox) []hdr { return []hdr{hardlink("h", "../outside/secret")} },
			wantErr: `invalid hardlink "h" -> "../outside/secret"`},
		{name: "absolute hard link target resolves inside, as with Docker",
			entries: func(sandbox) []hdr { return []hdr{reg("f", "x"), hardlink("h", "/f")} },
			check: func(t *testing.T, sb sandbox) {
				a, _ := os.Stat(filepath.Join(sb.dst, "f"))
				b, err := os.Stat(filepath.Join(sb.dst, "h"))
				if err != nil || !os.SameFile(a, b) {
					t.Errorf("h is not f: %v", err)
				}
			}},
		{name: "absolute hard link to a file outside refused",
			entries: func(sb sandbox) []hdr { return []hdr{hardlink("h", filepath.Join(sb.outside, "secret"))} },
			wantErr: `extract "h"`},
		{name: "hard link through a symlink leading out refused",
			entries: func(sb sandbox) []hdr {
				return []hdr{symlink("l", sb.outside), hardlink("h", "l/secret"), reg("h", "pwned")}
			},
			wantErr: `extract "h"`},
		{name: "hard link to the extraction point refused",
			entries: func(sandbox) []hdr { return []hdr{hardlink("h", "./")} },
			wantErr: `invalid hardlink`},
		{name: "file over a hard link to a file outside is written anew, not through it",
			pre: func(t *testing.T, sb sandbox) {
				if err := os.Link(filepath.Join(sb.outside, "secret"), filepath.Join(sb.dst, "h")); err != nil {
					t.Fatal(err)
				}
			},
			entries: func(sandbox) []hdr { return []hdr{{name: "h", typ: tar.TypeReg, body: "mine"}} },
			check: func(t *testing.T, sb sandbox) {
				if readFile(t, filepath.Join(sb.dst, "h")) != "mine" {
					t.Error("h not replaced")
				}
			}},
		{name: "character device not created, as Docker in a user namespace",
			entries: func(sandbox) []hdr { return []hdr{{name: "mem", typ: tar.TypeChar}, reg("after", "x")} },
			check: func(t *testing.T, sb sandbox) {
				if _, err := os.Lstat(filepath.Join(sb.dst, "mem")); !errors.Is(err, fs.ErrNotExist) || readFile(t, filepath.Join(sb.dst, "after")) != "x" {
					t.Errorf("mem: %v", err)
				}
			}},
		{name: "block device not created",
			entries: func(sandbox) []hdr { return []hdr{{name: "sda", typ: tar.TypeBlock}} },
			check: func(t *testing.T, sb sandbox) {
				if _, err := os.Lstat(filepath.Join(sb.dst, "sda")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("sda: %v", err)
				}
			}},
		{name: "fifo created, as Docker does",
			entries: func(sandbox) []hdr { return []hdr{dir("d/"), {name: "d/p", typ: tar.TypeFifo}} },
			check: func(t *testing.T, sb sandbox) {
				if fi, err := os.Lstat(filepath.Join(sb.dst, "d/p")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
					t.Errorf("d/p: %v, %v", fi, err)
				}
			}},
		{name: "fifo through a symlink leading out refused",
			entries: func(sb sandbox) []hdr { return []hdr{symlink("l", sb.outside), {name: "l/p", typ: tar.TypeFifo}} },
			wantErr: `extract "l/p"`},
		{name: "symlink loop refused",
			entries: func(sandbox) []hdr { return []hdr{symlink("a", "b"), symlink("b", "a"), reg("a/f", "x")} },
			wantErr: `extract "a/f"`},
		{name: "regular file named after the extraction point refused",
			entries: func(sandbox) []hdr { return []hdr{reg(".", "x")} },
			wantErr: `would replace the extraction point`},
		{name: "huge PAX header refused by the tar reader, as in Docker",
			raw:     append(paxHeader(t, "comment="+strings.Repeat("x", 2<<20)), archiveOf(t, reg("f", "x"))...),
			wantErr: `read archive: archive/tar: header field too long`},
		{name: "huge GNU long name refused by the tar reader",
			raw:     append(typed(t, tar.TypeGNULongName, strings.Repeat("n", 2<<20)), archiveOf(t, reg("f", "x"))...),
			wantErr: `read archive: archive/tar: header field too long`},
		{name: "truncated archive refused",
			raw:     archiveOf(t, reg("f", strings.Repeat("x", 4096)))[:1024],
			wantErr: `unexpected EOF`},
		{name: "name longer than the file system allows refused",
			entries: func(sandbox) []hdr { return []hdr{reg(strings.Repeat("n", 300), "x")} },
			wantErr: `file name too long`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb := newSandbox(t)
			if tt.pre != nil {
				tt.pre(t, sb)
			}
			input := tt.raw
			if tt.entries != nil {
				input = archiveOf(t, tt.entries(sb)...)
			}
			err := Put(sb.dst, bytes.NewReader(input), PutOptions{})
			defer sb.untouched(t)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if tt.check != nil {
					tt.check(t, sb)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != linkproto.ErrKindInvalid || !strings.Contains(e.Message, tt.wantErr) {
				t.Fatalf("Put = %v (%T), want an invalid-archive error containing %q", err, err, tt.wantErr)
			}
		})
	}
}

// TestGetHostileFiles: reading out of a container archives what is there without following it out.
func TestGetHostileFiles(t *testing.T) {
	sb := newSandbox(t)
	if err := os.Symlink(sb.outside, filepath.Join(sb.dst, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(sb.outside, "secret"), filepath.Join(sb.dst, "s")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(sb.dst, "p"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb.dst, "odd\nname"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Get(sb.dst, &out); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, &out)
	want := map[string]string{"dst/": "", "dst/l": "-> " + sb.outside, "dst/s": "-> " + filepath.Join(sb.outside, "secret"), "dst/odd\nname": "x"}
	if !maps.Equal(got, want) {
		t.Fatalf("entries %q, want %q", got, want)
	}

	// A file whose size the kernel reports as 0 but reads with content (/proc) is archived as Docker does: empty,
	// not an error.
	out.Reset()
	if err := Get("/proc/self/status", &out); err != nil {
		t.Fatalf("Get /proc/self/status: %v", err)
	}
	if h, err := tar.NewReader(&out).Next(); err != nil || h.Name != "status" || h.Size != 0 {
		t.Fatalf("entry %+v, %v", h, err)
	}
}
