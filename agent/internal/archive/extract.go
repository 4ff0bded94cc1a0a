package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/runsock/runsock/linkproto"
)

type extractor struct {
	root  string
	opts  PutOptions
	chown bool
	dirs  []*tar.Header // directory times are set last, after their contents
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
			return err
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		h := x.dirs[i]
		_ = os.Chtimes(x.target(h.Name), time.Now(), h.ModTime)
	}
	return nil
}

// target maps an entry name into root, refusing to leave it.
func (x *extractor) target(name string) string {
	return filepath.Join(x.root, filepath.Clean("/"+name))
}

func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	path := x.target(hdr.Name)
	if path == x.root && hdr.Typeflag == tar.TypeDir {
		return nil // "./": the extraction point itself
	}
	if err := x.checkOverwrite(path, hdr); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(path, mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		x.dirs = append(x.dirs, hdr)
	case tar.TypeReg, tar.TypeRegA:
		if err := writeFile(path, tr, mode.Perm()); err != nil {
			return err
		}
	case tar.TypeSymlink:
		_ = os.Remove(path)
		if err := os.Symlink(hdr.Linkname, path); err != nil {
			return err
		}
	case tar.TypeLink:
		_ = os.Remove(path)
		if err := os.Link(x.target(hdr.Linkname), path); err != nil {
			return err
		}
	default:
		return nil // devices, fifos: not created, as a rootless daemon would not either
	}
	return x.attrs(path, hdr)
}

func (x *extractor) checkOverwrite(path string, hdr *tar.Header) error {
	fi, err := os.Lstat(path)
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
		return &Error{Kind: linkproto.ErrKindInvalid, Message: fmt.Sprintf("cannot overwrite %s %q with %s %q",
			what, path, map[bool]string{true: "directory", false: "non-directory"}[newDir], hdr.Name)}
	case fi.IsDir():
		return os.RemoveAll(path)
	case newDir:
		return os.Remove(path)
	}
	return nil
}

func writeFile(path string, r io.Reader, perm fs.FileMode) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		_ = os.Remove(path)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (x *extractor) attrs(path string, hdr *tar.Header) error {
	if x.chown {
		uid, gid := 0, 0
		if x.opts.CopyUIDGID {
			uid, gid = hdr.Uid, hdr.Gid
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return err
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil
	}
	if err := os.Chmod(path, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeDir {
		_ = os.Chtimes(path, time.Now(), hdr.ModTime)
	}
	return nil
}
