package volumes

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/runsock/runsock/controlplane/internal/errkind"
)

// Files reads and writes a volume's files through the Cloud Storage JSON API, with the control plane's identity,
// while no container runs with the volume mounted (docker cp into or out of a created or exited container, and
// the copy of an image's files into a new volume). It sees the volume as Cloud Storage FUSE shows it
// (cloud-run-volumes.md §3): a file is an object under the volume's prefix, a directory a "dir/" placeholder or
// any prefix with objects below it, every file mode 0644 and every directory 0755, owned by root; symlinks are
// objects with gcsfuse's symlink metadata; hard links, devices, FIFOs and sockets cannot be stored.
//
// Paths are relative to the volume's root ("" is the root, "sub/f" a file). The caller has already decided whose
// volume it is: a prefix comes only from a container record resolved for its owner.
type Files struct {
	b *Bucket
}

// NewFiles returns the volume files of bucket b.
func NewFiles(b *Bucket) *Files { return &Files{b: b} }

const (
	fileMode = 0o644
	dirMode  = 0o755
)

// Empty reports whether the volume at prefix holds nothing (one objects.list with maxResults=1).
func (f *Files) Empty(ctx context.Context, prefix string) (bool, error) {
	objs, err := f.b.List(ctx, prefix, 1)
	return len(objs) == 0, err
}

// entry is what a relative path is in the volume.
type entry struct {
	dir  bool
	file *Object // the object of a file or symlink
	// below are the objects under a directory (names relative to the volume's root), in name order.
	below   []Object
	updated time.Time
}

// lookup finds rel in the volume at prefix: the root is always a directory (the mount point).
func (f *Files) lookup(ctx context.Context, prefix, rel string) (*entry, error) {
	objs, err := f.b.List(ctx, prefix+rel, 0)
	if err != nil {
		return nil, err
	}
	e := &entry{dir: rel == ""}
	for i := range objs {
		o := objs[i]
		name := strings.TrimPrefix(o.Name, prefix)
		switch {
		case rel != "" && name == rel:
			e.file = &o
		case rel == "" || strings.HasPrefix(name, rel+"/"):
			e.dir = true
			o.Name = name
			e.below = append(e.below, o)
			if o.Updated.After(e.updated) {
				e.updated = o.Updated
			}
		}
	}
	if e.dir { // gcsfuse shows the directory when both "a" and "a/" exist (§4.4)
		e.file = nil
	}
	if !e.dir && e.file == nil {
		return nil, errdefs.ErrNotFound
	}
	return e, nil
}

// Stat describes rel as Docker's path stat does; a missing path is errdefs.ErrNotFound.
func (f *Files) Stat(ctx context.Context, prefix, rel string) (container.PathStat, error) {
	e, err := f.lookup(ctx, prefix, rel)
	if err != nil {
		return container.PathStat{}, err
	}
	return e.stat(rel), nil
}

func (e *entry) stat(rel string) container.PathStat {
	name := path.Base("/" + rel)
	if e.dir {
		return container.PathStat{Name: name, Mode: os.ModeDir | dirMode, Mtime: e.updated}
	}
	if e.file.Symlink != "" {
		return container.PathStat{Name: name, Mode: os.ModeSymlink | 0o777, Size: int64(len(e.file.Symlink)), Mtime: e.file.Updated, LinkTarget: e.file.Symlink}
	}
	return container.PathStat{Name: name, Size: e.file.Size, Mode: fileMode, Mtime: e.file.Updated}
}

// Get streams rel as Docker's GET archive does: a tar whose entries are named under base (the path's base name,
// "." for a path ending in "/."), with the modes Docker's archives carry (the file type's bits included).
func (f *Files) Get(ctx context.Context, prefix, rel, base string) (container.PathStat, io.ReadCloser, error) {
	e, err := f.lookup(ctx, prefix, rel)
	if err != nil {
		return container.PathStat{}, nil, err
	}
	st := e.stat(rel)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(f.writeTar(ctx, pw, prefix, rel, base, e)) }()
	return st, pr, nil
}

func (f *Files) writeTar(ctx context.Context, w io.Writer, prefix, rel, base string, e *entry) error {
	tw := tar.NewWriter(w)
	if !e.dir {
		if err := f.writeObject(ctx, tw, prefix, *e.file, base); err != nil {
			return err
		}
		return tw.Close()
	}
	written := map[string]bool{}
	var dir func(name string, mtime time.Time) error
	dir = func(name string, mtime time.Time) error { // name: under base, no trailing slash
		if written[name] {
			return nil
		}
		if name != base {
			if err := dir(path.Dir(name), mtime); err != nil {
				return err
			}
		}
		written[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o40000 | dirMode, ModTime: mtime, Format: tar.FormatPAX})
	}
	if err := dir(base, e.updated); err != nil {
		return err
	}
	under := rel + "/"
	if rel == "" {
		under = ""
	}
	for _, o := range e.below {
		sub := strings.TrimPrefix(o.Name, under)
		if sub == "" {
			continue // the directory's own placeholder
		}
		name := path.Join(base, sub)
		if strings.HasSuffix(sub, "/") {
			if err := dir(name, o.Updated); err != nil {
				return err
			}
			continue
		}
		if err := dir(path.Dir(name), o.Updated); err != nil {
			return err
		}
		o.Name = prefix + o.Name
		if err := f.writeObject(ctx, tw, prefix, o, name); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeObject writes one file or symlink object (o.Name its full object name) as the tar entry name.
func (f *Files) writeObject(ctx context.Context, tw *tar.Writer, prefix string, o Object, name string) error {
	if o.Symlink != "" {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: o.Symlink, Mode: 0o120000 | 0o777, ModTime: o.Updated, Format: tar.FormatPAX})
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: o.Size, Mode: 0o100000 | fileMode, ModTime: o.Updated, Format: tar.FormatPAX}); err != nil {
		return err
	}
	rc, err := f.b.Open(ctx, o.Name)
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(tw, io.LimitReader(rc, o.Size))
	if err == nil && n < o.Size {
		err = fmt.Errorf("gs object %s: %d bytes of %d (changed while read)", strings.TrimPrefix(o.Name, prefix), n, o.Size)
	}
	return err
}

// Put extracts the tar r into the directory rel of the volume at prefix (PUT archive): each directory becomes a
// "dir/" placeholder, each file an object, each symlink gcsfuse's symlink object; a hard link is a copy of the file
// it links to (Cloud Storage FUSE has no hard links). Entries cannot leave the volume: names are cleaned as
// absolute paths below rel. rel must be an existing directory (404, or 400 when it is a file).
func (f *Files) Put(ctx context.Context, prefix, rel string, r io.Reader) error {
	if rel != "" {
		below, err := f.b.List(ctx, prefix+rel+"/", 1)
		if err != nil {
			return err
		}
		if len(below) == 0 {
			same, err := f.b.List(ctx, prefix+rel, 1)
			if err != nil {
				return err
			}
			if len(same) == 1 && same[0].Name == prefix+rel {
				return errkind.New(errdefs.ErrInvalidArgument, "extraction point is not a directory")
			}
			return errdefs.ErrNotFound
		}
	}
	return f.extract(ctx, prefix, rel, r)
}

func (f *Files) extract(ctx context.Context, prefix, rel string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errkind.New(errdefs.ErrInvalidArgument, "read the archive: %v", err)
		}
		sub := strings.TrimPrefix(path.Clean("/"+h.Name), "/") // "/../x" cleans to "/x": nothing leaves rel
		if sub == "" {
			continue // the archive's "." entry: rel itself
		}
		obj := prefix + path.Join(rel, sub)
		switch h.Typeflag {
		case tar.TypeDir:
			err = f.b.Write(ctx, obj+"/", strings.NewReader(""), 0, "")
		case tar.TypeReg, tar.TypeRegA:
			err = f.b.Write(ctx, obj, tr, h.Size, "")
		case tar.TypeSymlink:
			err = f.b.Write(ctx, obj, nil, 0, h.Linkname)
		case tar.TypeLink:
			err = f.copyObject(ctx, prefix+path.Join(rel, strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")), obj)
		default:
			continue // devices, FIFOs: Cloud Storage FUSE cannot make them either (ENOTSUP, §4.4)
		}
		if errdefs.IsConflict(err) {
			return errkind.New(errdefs.ErrInvalidArgument, "cannot overwrite %s in the volume: a file and a directory of the same name", path.Join("/", rel, sub))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path.Join("/", rel, sub), err)
		}
	}
}

// copyObject writes a copy of object from as to (a hard link's target, written earlier by the same archive).
func (f *Files) copyObject(ctx context.Context, from, to string) error {
	objs, err := f.b.List(ctx, from, 1)
	if err != nil {
		return err
	}
	if len(objs) == 0 || objs[0].Name != from {
		return errkind.New(errdefs.ErrInvalidArgument, "hard link to %s, which the archive did not hold before it", path.Base(from))
	}
	rc, err := f.b.Open(ctx, from)
	if err != nil {
		return err
	}
	defer rc.Close()
	return f.b.Write(ctx, to, rc, objs[0].Size, "")
}

// CopyUp fills the empty volume at prefix with the tar that open returns, as Docker copies an image's files at a
// volume's mount point into a new volume: open is not called, and nothing written, when the volume already holds
// something; open may answer (nil, nil) for "nothing to copy". It reports whether it wrote.
func (f *Files) CopyUp(ctx context.Context, prefix string, open func() (io.ReadCloser, error)) (bool, error) {
	empty, err := f.Empty(ctx, prefix)
	if err != nil || !empty {
		return false, err
	}
	rc, err := open()
	if err != nil || rc == nil {
		return false, err
	}
	defer rc.Close()
	if err := f.extract(ctx, prefix, "", rc); err != nil {
		return false, err
	}
	return true, nil
}
