package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"path"
	"strings"
	"testing"
)

// FuzzPut extracts arbitrary bytes as an archive beside a directory it must not touch, then archives what it wrote
// back out: extraction never writes outside the extraction point, and Get makes a well-formed archive of whatever
// Put left.
func FuzzPut(f *testing.F) {
	for _, entries := range [][]hdr{
		{dir("d/"), reg("d/a", "alpha"), symlink("d/l", "a"), hardlink("d/h", "d/a")},
		{reg("../escape", "x")},
		{symlink("l", "/"), reg("l/etc/x", "x")},
		{symlink("l", "../.."), reg("l/x", "x")},
		{dir("s/"), symlink("l", "s"), hardlink("h", "l/../../x")},
		{{name: "p", typ: tar.TypeFifo}, {name: "c", typ: tar.TypeChar}},
		{reg("a", "1"), dir("a/"), reg("a", "2")},
	} {
		f.Add(archiveOf(f, entries...))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(archiveOf(f, reg("z", "zipped")))
	zw.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		if declaresMoreThan(data, 1<<20) {
			t.Skip("declares more than 1 MiB of content (a sparse or compressed bomb fills the disk, as it would in Docker)")
		}
		sb := newSandbox(t)
		err := Put(sb.dst, bytes.NewReader(data), PutOptions{})
		sb.untouched(t)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Put returned %T, not an archive Error: %v", err, err)
			}
			return
		}
		var out bytes.Buffer
		if err := Get(sb.dst, &out); err != nil {
			t.Fatalf("Get of what Put wrote: %v", err)
		}
		tr := tar.NewReader(&out)
		for {
			if _, err := tr.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("Get wrote a malformed archive: %v", err)
			}
		}
	})
}

// declaresMoreThan reports whether the archive in data (plain or gzip) declares more than n bytes of content, or
// would decompress to more than n bytes.
func declaresMoreThan(data []byte, n int64) bool {
	r, err := decompress(bytes.NewReader(data))
	if err != nil {
		return false
	}
	lr := &io.LimitedReader{R: r, N: n}
	tr := tar.NewReader(lr)
	var total int64
	for {
		h, err := tr.Next()
		if err != nil {
			return lr.N <= 0
		}
		if total += h.Size; total > n {
			return true
		}
	}
}

// FuzzEntryName: whatever a tar entry or link names, what is extracted stays under the extraction point.
func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"a", "/a", "../a", "a/../../b", "./", "", "..", "a/..", "//..//a", "a/./b/../../.."} {
		f.Add(s, "../x")
	}
	f.Fuzz(func(t *testing.T, name, link string) {
		p, ok := entryName(name)
		if !ok {
			if !strings.Contains(name, "..") {
				t.Fatalf("entryName(%q) refused a name without ..", name)
			}
			return
		}
		if j := path.Join("/root", p); j != "/root" && !strings.HasPrefix(j, "/root/") {
			t.Fatalf("entryName(%q) = %q, which leads to %q", name, p, j)
		}
		if path.IsAbs(p) || p != path.Clean(p) {
			t.Fatalf("entryName(%q) = %q: not relative and clean", name, p)
		}
		if !path.IsAbs(link) && !symlinkEscapes(p, link) {
			if j := path.Join("/root", path.Dir(p), link); j != "/root" && !strings.HasPrefix(j, "/root/") {
				t.Fatalf("symlink %q -> %q leads to %q", p, link, j)
			}
		}
	})
}
