package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/runsock/runsock/linkproto"
)

// Error is an archive failure with a kind the control plane maps onto a status.
type Error = linkproto.Error

func kindOf(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return linkproto.ErrKindNotFound
	case errors.Is(err, fs.ErrPermission):
		return linkproto.ErrKindPermission
	default:
		return linkproto.ErrKindInternal
	}
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: kindOf(err), Message: err.Error()}
}

// Stat describes path as Docker's path stat does: the symlink itself, not its target.
func Stat(path string) (linkproto.PathStat, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return linkproto.PathStat{}, &Error{Kind: linkproto.ErrKindNotFound, Message: fmt.Sprintf("Could not find the file %s in container", path)}
		}
		return linkproto.PathStat{}, wrap(err)
	}
	st := linkproto.PathStat{Name: fi.Name(), Size: fi.Size(), Mode: uint32(fi.Mode()), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		st.LinkTarget, _ = os.Readlink(path)
	}
	return st, nil
}

// Get writes a tar stream of path to w. Entries are named after path's base name ("." for a path ending in "/.").
func Get(path string, w io.Writer) error {
	if _, err := Stat(path); err != nil {
		return err
	}
	base := filepath.Base(filepath.Clean(path))
	if strings.HasSuffix(path, "/.") {
		base = "."
	}
	root := filepath.Clean(path)
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		return AddEntry(tw, p, filepath.ToSlash(filepath.Join(base, rel)))
	})
	if err != nil {
		return wrap(fmt.Errorf("archive %s: %w", path, err))
	}
	return wrap(tw.Close())
}

// AddEntry writes the file, directory or symlink at path to tw as name (a directory's with a trailing slash), with
// numeric owners; sockets, devices and fifos are left out.
func AddEntry(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	var link string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() && link == "" {
		return nil // sockets, devices, fifos: not copied
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}
	hdr.Format = tar.FormatPAX
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	// O_NOFOLLOW: code in the container may swap the file for a link while it is archived; O_NONBLOCK: or for a FIFO.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// Exactly the size in the header, as Docker does: a file that grows meanwhile (a log) is cut there, and one the
	// kernel sizes 0 but reads with content (/proc) is empty; one that shrinks cannot make a valid entry.
	if n, err := io.CopyN(tw, f, hdr.Size); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s shrank from %d to %d bytes while it was archived", path, hdr.Size, n)
		}
		return err
	}
	return nil
}

// PutOptions are Docker's archive PUT options, and Layer: the archive is an image layer (a container's earlier
// run's changes, restored at its restart), whose ".wh.NAME" entries delete NAME instead of being written.
type PutOptions struct {
	NoOverwriteDirNonDir bool
	CopyUIDGID           bool
	Layer                bool
}

// Put extracts the tar stream r (plain, gzip or bzip2) into the existing directory dir.
func Put(dir string, r io.Reader, opts PutOptions) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &Error{Kind: linkproto.ErrKindNotFound, Message: fmt.Sprintf("Could not find the file %s in container", dir)}
		}
		return wrap(err)
	}
	if !fi.IsDir() {
		return &Error{Kind: linkproto.ErrKindInvalid, Message: "extraction point is not a directory"}
	}
	tr, err := decompress(r)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return wrap(err)
	}
	defer root.Close()
	x := extractor{root: root, dir: filepath.Clean(dir), opts: opts, chown: os.Geteuid() == 0}
	if err := x.run(tar.NewReader(tr)); err != nil {
		return wrap(err)
	}
	return nil
}

func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &Error{Kind: linkproto.ErrKindInvalid, Message: fmt.Sprintf("gzip: %v", err)}
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, &Error{Kind: linkproto.ErrKindInvalid, Message: "xz-compressed archives are not supported; send plain, gzip or bzip2"}
	}
	return br, nil
}
