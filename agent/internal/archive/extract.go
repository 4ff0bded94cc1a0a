package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsock/runsock/linkproto"
)

// extractor writes a tar stream into root, the extraction point. Every file operation goes through os.Root, so no
// entry is written outside it: not by its name (a name climbing out with ".." is refused as Docker refuses it), not
// through a symbolic link already there or made by an earlier entry (a path through a link that leads out, or is
// absolute, is refused), not through a hard link (a regular file replaces what its name held, never writes into
// it). Where Docker would resolve such a path inside the container's root, the agent, which runs in that root,
// refuses instead.
type extractor struct {
	root  *os.Root
	dir   string // the extraction point, for messages
	opts  PutOptions
	chown bool
	dirs  []dirTime // directory times are set last, after their contents
}

type dirTime struct {
	name  string
	mtime time.Time
}

func (x *extractor) run(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &Error{Kind: linkproto.ErrKindInvalid, Message: fmt.Sprintf("read archive: %v", err)}
		}
		if err := x.entry(tr, hdr); err != nil {
			return entryError(hdr.Name, x.dir, err)
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		_ = x.root.Chtimes(x.dirs[i].name, time.Now(), x.dirs[i].mtime)
	}
	return nil
}

// entryName maps a tar entry name to a path relative to the extraction point, as Docker does: leading slashes are
// dropped (an absolute name lands inside), and a name that climbs out with ".." is refused.
func entryName(name string) (string, bool) {
	p := path.Clean(name)
	if p == ".." || len(p) > 2 && p[:3] == "../" {
		return "", false
	}
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if p == "" {
		p = "."
	}
	return p, true
}

// symlinkEscapes reports whether a relative link target, read from the link's directory, leads out of the
// extraction point: Docker refuses to create such links. An absolute target is left as it is (it means the
// container's root, where Docker's extraction would resolve it).
func symlinkEscapes(name, target string) bool {
	if path.IsAbs(target) {
		return false
	}
	_, ok := entryName(path.Join(path.Dir(name), target))
	return !ok
}

func invalidf(format string, args ...any) error {
	return &Error{Kind: linkproto.ErrKindInvalid, Message: fmt.Sprintf(format, args...)}
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	name, ok := entryName(hdr.Name)
	if !ok {
		return invalidf("%q is outside of %q", hdr.Name, x.dir)
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir {
			return nil // "./": the extraction point itself
		}
		return invalidf("%q would replace the extraction point %q", hdr.Name, x.dir)
	}
	if x.opts.Layer {
		if base := path.Base(name); strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" { // captures write none: each deletion is its own whiteout
				return nil
			}
			return x.root.RemoveAll(path.Join(path.Dir(name), strings.TrimPrefix(base, ".wh.")))
		}
	}
	if err := x.checkOverwrite(name, hdr); err != nil {
		return err
	}
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := hdr.FileInfo().Mode()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.Mkdir(name, mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		x.dirs = append(x.dirs, dirTime{name: name, mtime: hdr.ModTime})
	case tar.TypeReg, tar.TypeRegA:
		if err := x.writeFile(name, tr); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if symlinkEscapes(name, hdr.Linkname) {
			return invalidf("invalid symlink %q -> %q: it leads outside of %q", hdr.Name, hdr.Linkname, x.dir)
		}
		if err := x.replace(name); err != nil {
			return err
		}
		if err := x.root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
	case tar.TypeLink:
		target, ok := entryName(hdr.Linkname)
		if !ok || target == "." {
			return invalidf("invalid hardlink %q -> %q: it leads outside of %q", hdr.Name, hdr.Linkname, x.dir)
		}
		if err := x.replace(name); err != nil {
			return err
		}
		if err := x.root.Link(target, name); err != nil {
			return err
		}
	case tar.TypeFifo:
		if err := x.replace(name); err != nil {
			return err
		}
		if err := x.mkfifo(name, uint32(mode.Perm())); err != nil {
			return err
		}
	default:
		// Devices are not created, as Docker does not in a user namespace (rootless); extended headers and the
		// like describe the entries that follow.
		return nil
	}
	return x.attrs(name, hdr)
}

func (x *extractor) checkOverwrite(name string, hdr *tar.Header) error {
	fi, err := x.root.Lstat(name)
	if err != nil {
		return nil
	}
	newDir := hdr.Typeflag == tar.TypeDir
	switch {
	case fi.IsDir() && newDir:
		return nil
	case x.opts.NoOverwriteDirNonDir && fi.IsDir() != newDir:
		what := "non-directory"
		if fi.IsDir() {
			what = "directory"
		}
		return invalidf("cannot overwrite %s %q with %s %q",
			what, path.Join(x.dir, name), map[bool]string{true: "directory", false: "non-directory"}[newDir], hdr.Name)
	case fi.IsDir():
		return x.root.RemoveAll(name)
	case newDir:
		return x.root.Remove(name)
	}
	return nil
}

// replace removes what name holds (not a directory: checkOverwrite saw to those), so the entry is created anew.
func (x *extractor) replace(name string) error {
	if err := x.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeFile creates name anew with r's content: what name was (a hard link to a file elsewhere, a symlink) keeps
// its content, as with Docker, which removes before it writes.
func (x *extractor) writeFile(name string, r io.Reader) error {
	if err := x.replace(name); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mkfifo makes a FIFO at name, in its parent directory as opened through the root (os.Root has no Mkfifo).
func (x *extractor) mkfifo(name string, perm uint32) error {
	parent, err := x.root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Mkfifoat(int(parent.Fd()), path.Base(name), perm); err != nil {
		return &fs.PathError{Op: "mkfifo", Path: name, Err: err}
	}
	return nil
}

func (x *extractor) attrs(name string, hdr *tar.Header) error {
	if x.chown {
		uid, gid := 0, 0
		if x.opts.CopyUIDGID {
			uid, gid = hdr.Uid, hdr.Gid
		}
		if err := x.root.Lchown(name, uid, gid); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil
	}
	if err := x.root.Chmod(name, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeDir {
		_ = x.root.Chtimes(name, time.Now(), hdr.ModTime)
	}
	return nil
}

// entryError gives an entry's failure a kind: refusals of the archive's content are invalid, the file system's own
// failures keep theirs.
func entryError(name, dir string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	kind := linkproto.ErrKindInternal
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrPermission):
		kind = linkproto.ErrKindPermission
	case !errors.As(err, &errno), errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENAMETOOLONG),
		errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ELOOP):
		// The archive's doing: os.Root refused a path that leads outside of dir through a symbolic link (not an
		// errno), a hard link names a file that is not there, a name is too long, the archive ended inside an entry.
		kind = linkproto.ErrKindInvalid
	}
	return &Error{Kind: kind, Message: fmt.Sprintf("extract %q into %q: %v", name, dir, err)}
}
