package containerfs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// Reader reads containers' filesystems from their images' layers in the registry, with staged archives on top.
// Each call reads the image's layers again: one pass for a stat, two for a get (see docs/files.md for the cost).
type Reader struct {
	remote []remote.Option
	nopt   []name.Option
}

// NewReader returns a Reader that reaches the registry with opts (its authentication); insecure allows plain HTTP
// (the local registry).
func NewReader(insecure bool, opts ...remote.Option) *Reader {
	r := &Reader{remote: opts}
	if insecure {
		r.nopt = append(r.nopt, name.Insecure)
	}
	return r
}

// View is one container's filesystem as image layers plus staged archives, as a flattened tar stream.
type View struct {
	r      *Reader
	image  string
	staged []Staged
	caps   *Captures
	cap    *Capture
	live   v1.Layer
}

// WithCapture puts the layer of a container's last run (rec, stored by caps) on top of the view.
func (v *View) WithCapture(caps *Captures, rec *Capture) *View {
	v.caps, v.cap = caps, rec
	return v
}

// WithLive puts l, a running container's changes so far (its agent's capture on demand), on top of the view.
func (v *View) WithLive(l v1.Layer) *View {
	v.live = l
	return v
}

// Image is the digest reference of the container's image, the view's bottom.
func (v *View) Image() string { return v.image }

// Base reads the container's image from the registry.
func (v *View) Base(ctx context.Context) (v1.Image, error) {
	ref, err := name.ParseReference(v.image, v.r.nopt...)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", v.image, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})}, v.r.remote...)
	img, err := remote.Image(ref, opts...)
	if err != nil {
		return nil, errkind.New(errdefs.ErrUnavailable, "read the layers of %s: %v", v.image, err)
	}
	return img, nil
}

// Layers are what the container has on top of its image, bottom first: each staged archive (stagedLayers of them),
// then its changes: its earlier runs', and its last (captured) or current (live) run's.
func (v *View) Layers(ctx context.Context) (layers []v1.Layer, stagedLayers int, err error) {
	for _, s := range v.staged {
		l, err := stagedLayer(s)
		if err != nil {
			return nil, 0, err
		}
		layers = append(layers, l)
	}
	top, err := v.top(ctx)
	if err != nil {
		return nil, 0, err
	}
	return append(layers, top...), len(v.staged), nil
}

// top are the layers of the container's changes: its earlier runs' restored into this one, then this run's (live,
// or captured at its exit).
func (v *View) top(ctx context.Context) ([]v1.Layer, error) {
	var out []v1.Layer
	if v.cap != nil {
		rec := *v.cap
		if v.live != nil { // the capture is of the last run; this one started with all of it
			rec = Capture{Earlier: Restored(v.cap)}
		}
		ls, err := v.caps.layers(ctx, &rec, v.r.nopt, v.r.remote)
		if err != nil {
			return nil, err
		}
		out = ls
	}
	if v.live != nil {
		out = append(out, v.live)
	}
	return out, nil
}

// View returns the filesystem of a container of image (a digest reference) with staged on top.
func (r *Reader) View(image string, staged []Staged) *View {
	return &View{r: r, image: image, staged: staged}
}

// flatten streams the flattened filesystem; close it.
func (v *View) flatten(ctx context.Context) (io.ReadCloser, error) {
	img, err := v.Base(ctx)
	if err != nil {
		return nil, err
	}
	layers, _, err := v.Layers(ctx)
	if err != nil {
		return nil, err
	}
	if len(layers) > 0 {
		if img, err = mutate.AppendLayers(img, layers...); err != nil {
			return nil, err
		}
	}
	return mutate.Extract(img), nil
}

// stagedLayer turns a staged archive into a layer: its entries moved under its destination, owned by root unless
// it was copied with copyUIDGID, as the agent will extract it.
func stagedLayer(s Staged) (v1.Layer, error) {
	tr, err := decompress(bytes.NewReader(s.Data))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rd := tar.NewReader(tr)
	dest := strings.TrimPrefix(path.Clean("/"+s.Path), "/")
	for {
		h, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errkind.New(errdefs.ErrInvalidArgument, "read archive: %v", err)
		}
		h.Name = strings.TrimPrefix(path.Join(dest, path.Clean("/"+h.Name)), "/")
		if h.Name == "" || h.Name == dest && h.Typeflag == tar.TypeDir {
			continue // the extraction point itself
		}
		if h.Typeflag == tar.TypeLink {
			h.Linkname = strings.TrimPrefix(path.Join(dest, path.Clean("/"+h.Linkname)), "/")
		}
		if !s.CopyUIDGID {
			h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, rd); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errkind.New(errdefs.ErrInvalidArgument, "gzip: %v", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errkind.New(errdefs.ErrInvalidArgument, "xz-compressed archives are not supported; send plain, gzip or bzip2")
	}
	return br, nil
}

// index is every path of the flattened filesystem ("/etc/passwd") with its header, contents not kept.
type index map[string]*tar.Header

func (v *View) index(ctx context.Context) (index, error) {
	rc, err := v.flatten(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	idx := index{"/": {Name: "/", Typeflag: tar.TypeDir, Mode: 0o755}}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return idx, nil
		}
		if err != nil {
			return nil, errkind.New(errdefs.ErrUnavailable, "read the layers of %s: %v", v.image, err)
		}
		p := path.Clean("/" + h.Name)
		idx[p] = h
		for d := path.Dir(p); d != "/" && idx[d] == nil; d = path.Dir(d) {
			idx[d] = &tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755} // layers may leave parents implicit
		}
	}
}

var errNotExist = errors.New("no such file or directory")

// resolve follows symlinks in p's directories (and in its last element too when follow), as a path lookup inside
// the container would.
func (idx index) resolve(p string, follow bool) (string, error) {
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		h := idx[next]
		if h == nil {
			return "", errNotExist
		}
		if h.Typeflag == tar.TypeSymlink && (len(parts) > 0 || follow) {
			if hops++; hops > 40 {
				return "", fmt.Errorf("too many levels of symbolic links")
			}
			target := h.Linkname
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			parts = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), parts...)
			cur = "/"
			continue
		}
		cur = next
	}
	return cur, nil
}

func pathStat(p string, h *tar.Header) container.PathStat {
	st := container.PathStat{Name: path.Base(p), Size: h.Size, Mode: h.FileInfo().Mode(), Mtime: h.ModTime}
	if p == "/" {
		st.Name = "/"
	}
	if h.Typeflag == tar.TypeSymlink {
		st.LinkTarget = h.Linkname
	}
	return st
}

// followLast says whether a Docker path names what its last element links to: "dir/." and "dir/" do.
func followLast(p string) bool {
	return strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.")
}

// Stat describes p as Docker's path stat does. A missing path is errdefs.ErrNotFound.
func (v *View) Stat(ctx context.Context, p string) (container.PathStat, error) {
	idx, err := v.index(ctx)
	if err != nil {
		return container.PathStat{}, err
	}
	st, _, err := idx.stat(p)
	return st, err
}

func (idx index) stat(p string) (container.PathStat, string, error) {
	real, err := idx.resolve(p, followLast(p))
	if errors.Is(err, errNotExist) {
		return container.PathStat{}, "", fmt.Errorf("%s: %w", p, errdefs.ErrNotFound)
	}
	if err != nil {
		return container.PathStat{}, "", errkind.New(errdefs.ErrInvalidArgument, "%s: %v", p, err)
	}
	return pathStat(real, idx[real]), real, nil
}

// Dir resolves p, which must be an existing directory (PUT archive's extraction point), to its real path.
func (v *View) Dir(ctx context.Context, p string) (string, error) {
	idx, err := v.index(ctx)
	if err != nil {
		return "", err
	}
	real, err := idx.resolve(p, true)
	if errors.Is(err, errNotExist) {
		return "", fmt.Errorf("%s: %w", p, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", errkind.New(errdefs.ErrInvalidArgument, "%s: %v", p, err)
	}
	if idx[real].Typeflag != tar.TypeDir {
		return "", errkind.New(errdefs.ErrInvalidArgument, "extraction point is not a directory")
	}
	return real, nil
}

// Get streams p as Docker's GET archive does: a tar whose entries are named after p's base name ("." for a path
// ending in "/."). Close the reader.
func (v *View) Get(ctx context.Context, p string) (container.PathStat, io.ReadCloser, error) {
	idx, err := v.index(ctx)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	st, real, err := idx.stat(p)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	base := path.Base(path.Clean("/" + p))
	if strings.HasSuffix(p, "/.") {
		base = "."
	}
	rc, err := v.flatten(ctx)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		pw.CloseWithError(subtree(rc, pw, idx, real, base))
	}()
	return st, pr, nil
}

// subtree copies the entries at and under real from the flattened stream, renamed under base; directories the
// layers leave implicit are written before their first entry.
func subtree(flat io.Reader, w io.Writer, idx index, real, base string) error {
	tr := tar.NewReader(flat)
	tw := tar.NewWriter(w)
	rename := func(p string) string {
		if p == real {
			return base
		}
		return path.Join(base, strings.TrimPrefix(p, strings.TrimSuffix(real, "/")+"/"))
	}
	written := map[string]bool{}
	var ensure func(p string) error
	ensure = func(p string) error {
		if written[p] || (p != real && !strings.HasPrefix(p, strings.TrimSuffix(real, "/")+"/")) {
			return nil
		}
		if p != real {
			if err := ensure(path.Dir(p)); err != nil {
				return err
			}
		}
		written[p] = true
		h := *idx[p]
		h.Name = rename(p) + "/"
		h.Size = 0
		h.Mode = dockerMode(&h)
		h.Format = tar.FormatPAX
		return tw.WriteHeader(&h)
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		p := path.Clean("/" + h.Name)
		if p != real && !strings.HasPrefix(p, strings.TrimSuffix(real, "/")+"/") {
			continue
		}
		if h.Typeflag == tar.TypeDir {
			if err := ensure(p); err != nil {
				return err
			}
			continue
		}
		if p != real {
			if err := ensure(path.Dir(p)); err != nil {
				return err
			}
		}
		h.Name = rename(p)
		if h.Typeflag == tar.TypeLink {
			lp := path.Clean("/" + h.Linkname)
			if lp == real || strings.HasPrefix(lp, strings.TrimSuffix(real, "/")+"/") {
				h.Linkname = rename(lp)
			}
		}
		h.Mode = dockerMode(h)
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if real == "/" || idx[real].Typeflag == tar.TypeDir {
		if err := ensure(real); err != nil {
			return err
		}
	}
	return tw.Close()
}

// dockerMode is an entry's mode as Docker's archives write it: the permission bits with the file type's (c_ISREG,
// c_ISDIR…, as moby's archive package adds them), which docker-py's tarfile members show.
func dockerMode(h *tar.Header) int64 {
	m := h.Mode & 0o7777
	switch h.Typeflag {
	case tar.TypeDir:
		m |= 0o40000
	case tar.TypeReg, tar.TypeLink:
		m |= 0o100000
	case tar.TypeSymlink:
		m |= 0o120000
	case tar.TypeChar:
		m |= 0o20000
	case tar.TypeBlock:
		m |= 0o60000
	case tar.TypeFifo:
		m |= 0o10000
	}
	return m
}

// Export streams the whole flattened filesystem as a tar (docker export). Close the reader.
func (v *View) Export(ctx context.Context) (io.ReadCloser, error) {
	return v.flatten(ctx)
}

// Changes lists the container's changes against its image as docker diff does, sorted by path: the staged
// archives' entries and the changes since the start (captured at the exit, or live), each path the image has a
// modification (C), any other an addition (A), a whiteout of a path the image has a deletion (D). The directories
// above a changed path are listed too, as Docker's copy-up shows them (C when the image has them).
func (v *View) Changes(ctx context.Context) ([]container.FilesystemChange, error) {
	layers, _, err := v.Layers(ctx)
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return []container.FilesystemChange{}, nil
	}
	base := *v
	base.staged, base.cap, base.live = nil, nil, nil
	idx, err := base.index(ctx)
	if err != nil {
		return nil, err
	}
	kinds := map[string]container.ChangeType{}
	touch := func(p string) { // p and its parents are in the container's layer
		for ; p != "/"; p = path.Dir(p) {
			if _, ok := kinds[p]; ok && p != "" {
				continue
			}
			if idx[p] != nil {
				kinds[p] = container.ChangeModify
			} else {
				kinds[p] = container.ChangeAdd
			}
		}
	}
	for _, l := range layers {
		if err := eachEntry(l, func(h *tar.Header) {
			p := path.Clean("/" + h.Name)
			dir, file := path.Split(p)
			switch {
			case file == ".wh..wh..opq":
				return
			case strings.HasPrefix(file, ".wh."):
				gone := path.Join(dir, strings.TrimPrefix(file, ".wh."))
				for q := range kinds {
					if q == gone || strings.HasPrefix(q, gone+"/") {
						delete(kinds, q)
					}
				}
				if d := path.Dir(gone); d != "/" {
					touch(d)
				}
				if idx[gone] != nil {
					kinds[gone] = container.ChangeDelete
				}
			default:
				if kinds[p] == container.ChangeDelete {
					kinds[p] = container.ChangeModify // deleted, then made again
				}
				touch(p)
			}
		}); err != nil {
			return nil, err
		}
	}
	changes := make([]container.FilesystemChange, 0, len(kinds))
	for p, k := range kinds {
		changes = append(changes, container.FilesystemChange{Path: p, Kind: k})
	}
	// Docker's daemon lists them in the order its walk of two trees' maps meets them, which is not fixed; runsock
	// lists them depth first, each directory's entries by name ("/a", "/a/x", "/a-b").
	sort.Slice(changes, func(i, j int) bool { return walkKey(changes[i].Path) < walkKey(changes[j].Path) })
	return changes, nil
}

func walkKey(p string) string { return strings.ReplaceAll(p, "/", "\x00") }

// eachEntry calls fn with each header of layer l.
func eachEntry(l v1.Layer, fn func(h *tar.Header)) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return errkind.New(errdefs.ErrUnavailable, "read a layer: %v", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errkind.New(errdefs.ErrUnavailable, "read a layer: %v", err)
		}
		fn(h)
	}
}
