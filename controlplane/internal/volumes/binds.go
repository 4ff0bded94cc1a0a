package volumes

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
)

// A staged bind is a copy of a directory of the machine running docker, sent by the owner's localproxy (the only
// part that can read it) and stored under BindPrefix(owner, id): its files under "files/" (the prefix a container
// mounts, as a volume), and "baseline.json", the generation of every object as staged (or as last synced back),
// written last so that its presence means the staging is complete. Changes are what differs from the baseline.

// MaxBindBytes is the most a staged bind may hold (the sum of its files' sizes). localproxy checks the same limit
// before it sends anything, so the user sees the path and the limit.
const MaxBindBytes = 1 << 30

var bindIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// BindPrefix is where owner's staged bind id lives in the bucket. It is outside every volume's prefix (v1/…).
func BindPrefix(owner, id string) string { return "b1/" + OwnerKey(owner) + "/" + id + "/" }

// BindFilesPrefix is the part of a staged bind a container mounts.
func BindFilesPrefix(owner, id string) string { return BindPrefix(owner, id) + "files/" }

func bindBaseline(owner, id string) string { return BindPrefix(owner, id) + "baseline.json" }

// baseline is a staged bind's reference state: object name (relative to files/) → generation.
type baseline struct {
	Files map[string]int64 `json:"files"`
	// File is the name of the one file of a single-file bind ("" = a directory).
	File string `json:"file,omitempty"`
}

func noSuchBind(id string) error { return errorf(errdefs.ErrNotFound, "No such staged bind: %s", id) }

func (s *Service) bindObjects() (Objects, error) {
	if s.cfg.Bucket == "" || s.cfg.Objects == nil {
		return nil, errorf(errdefs.ErrNotImplemented, "bind mounts need the volumes bucket, which is not configured on this control plane")
	}
	return s.cfg.Objects, nil
}

// StageBind stores the tar stream r (paths relative to the bind's source; directories, regular files; symlinks are
// refused by Cloud Storage FUSE's rules below) as a new staged bind of owner and returns its ID. Nothing is left
// behind when it fails.
//
// With file set the archive must hold exactly one regular file at its top: a single-file bind.
func (s *Service) StageBind(ctx context.Context, owner string, r io.Reader, file bool) (string, error) {
	objs, err := s.bindObjects()
	if err != nil {
		return "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	files := BindFilesPrefix(owner, id)
	fail := func(err error) (string, error) {
		if _, derr := objs.DeletePrefix(context.WithoutCancel(ctx), BindPrefix(owner, id)); derr != nil {
			s.log.Warn("staged bind not cleaned up", "bind", id, "err", derr)
		}
		return "", err
	}
	tr := tar.NewReader(r)
	var total int64
	fileName := ""
	dirs := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(errorf(errdefs.ErrInvalidArgument, "staging a bind: reading the archive: %v", err))
		}
		name, err := bindEntryName(h.Name)
		if err != nil {
			return fail(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if name == "" {
				continue
			}
			dirs[name] = true
		case tar.TypeReg:
			if file {
				if fileName != "" || strings.Contains(name, "/") {
					return fail(errorf(errdefs.ErrInvalidArgument, "staging a single-file bind: the archive must hold one file at its top"))
				}
				fileName = name
			}
			total += h.Size
			if total > MaxBindBytes {
				return fail(errorf(errdefs.ErrInvalidArgument, "staging a bind: more than %d MiB, the most a bind may hold", MaxBindBytes>>20))
			}
			if _, err := objs.Put(ctx, files+name, tr, h.Size); err != nil {
				return fail(fmt.Errorf("staging a bind: %w", err))
			}
			for d := path.Dir(name); d != "."; d = path.Dir(d) {
				delete(dirs, d) // a directory holding a file needs no placeholder
			}
		case tar.TypeSymlink:
			if name == "" || h.Linkname == "" {
				return fail(errorf(errdefs.ErrInvalidArgument, "staging a bind: invalid symlink %q", h.Name))
			}
			if _, err := objs.PutSymlink(ctx, files+name, h.Linkname); err != nil {
				return fail(fmt.Errorf("staging a bind: %w", err))
			}
			for d := path.Dir(name); d != "."; d = path.Dir(d) {
				delete(dirs, d)
			}
		default:
			// Cloud Storage FUSE has no special files (FIFOs, sockets, devices) nor hard links.
			return fail(errorf(errdefs.ErrInvalidArgument, "staging a bind: %s: only directories, regular files and symlinks can be staged", name))
		}
	}
	if file && (fileName == "" || len(dirs) > 0) {
		return fail(errorf(errdefs.ErrInvalidArgument, "staging a single-file bind: the archive must hold one file at its top"))
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for i, d := range names {
		if i+1 < len(names) && strings.HasPrefix(names[i+1], d+"/") {
			continue // not empty
		}
		if _, err := objs.Put(ctx, files+d+"/", bytes.NewReader(nil), 0); err != nil {
			return fail(fmt.Errorf("staging a bind: %w", err))
		}
	}
	if err := s.rebase(ctx, objs, owner, id, fileName); err != nil {
		return fail(err)
	}
	return id, nil
}

// bindEntryName checks one archive path: relative, inside the bind.
func bindEntryName(n string) (string, error) {
	if strings.HasPrefix(n, "/") || strings.Contains(n, "\\") || slices.Contains(strings.Split(n, "/"), "..") {
		return "", errorf(errdefs.ErrInvalidArgument, "staging a bind: invalid path %q in the archive", n)
	}
	c := path.Clean(n)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// rebase records the bind's current objects as its baseline.
func (s *Service) rebase(ctx context.Context, objs Objects, owner, id, file string) error {
	files := BindFilesPrefix(owner, id)
	list, err := objs.List(ctx, files, 0)
	if err != nil {
		return fmt.Errorf("bind %s: %w", id, err)
	}
	bl := baseline{Files: map[string]int64{}, File: file}
	for _, o := range list {
		bl.Files[strings.TrimPrefix(o.Name, files)] = o.Generation
	}
	raw, _ := json.Marshal(bl)
	if _, err := objs.Put(ctx, bindBaseline(owner, id), bytes.NewReader(raw), int64(len(raw))); err != nil {
		return fmt.Errorf("bind %s: baseline: %w", id, err)
	}
	return nil
}

func (s *Service) baseline(ctx context.Context, objs Objects, owner, id string) (*baseline, error) {
	if !bindIDPattern.MatchString(id) {
		return nil, noSuchBind(id)
	}
	rc, err := objs.Open(ctx, bindBaseline(owner, id))
	if errdefs.IsNotFound(err) {
		return nil, noSuchBind(id)
	}
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", id, err)
	}
	defer rc.Close()
	var bl baseline
	if err := json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(&bl); err != nil {
		return nil, fmt.Errorf("bind %s: baseline: %w", id, err)
	}
	return &bl, nil
}

// StagedBind returns the prefix a container of owner mounts for the staged bind id and, for a single-file bind,
// the file's name (404 when owner staged no such bind: another user's ID names nothing of this owner's).
func (s *Service) StagedBind(ctx context.Context, owner, id string) (string, string, error) {
	objs, err := s.bindObjects()
	if err != nil {
		return "", "", err
	}
	bl, err := s.baseline(ctx, objs, owner, id)
	if err != nil {
		return "", "", err
	}
	return BindFilesPrefix(owner, id), bl.File, nil
}

// BindChange is one path of a staged bind that differs from its baseline. A path ending in "/" is a directory.
type BindChange struct {
	Path    string
	Size    int64  `json:",omitempty"`
	Link    string `json:",omitempty"` // a symlink's target
	Deleted bool   `json:",omitempty"`
}

// BindChanges lists what changed in owner's staged bind id since it was staged or last synced: new and modified
// objects, then deleted ones.
func (s *Service) BindChanges(ctx context.Context, owner, id string) ([]BindChange, error) {
	objs, err := s.bindObjects()
	if err != nil {
		return nil, err
	}
	bl, err := s.baseline(ctx, objs, owner, id)
	if err != nil {
		return nil, err
	}
	files := BindFilesPrefix(owner, id)
	list, err := objs.List(ctx, files, 0)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", id, err)
	}
	out := []BindChange{}
	seen := map[string]bool{}
	for _, o := range list {
		name := strings.TrimPrefix(o.Name, files)
		seen[name] = true
		if g, ok := bl.Files[name]; !ok || g != o.Generation {
			out = append(out, BindChange{Path: name, Size: o.Size, Link: o.Symlink})
		}
	}
	// A directory is there while an object (or its placeholder) is under it; one that held objects at the
	// baseline and holds none now was deleted (Cloud Storage has no directories of its own).
	before, now := dirsOf(bl.Files), dirsOf(seen)
	var gone []string
	for name := range bl.Files {
		if !seen[name] && !(strings.HasSuffix(name, "/") && now[name]) {
			gone = append(gone, name)
		}
	}
	for d := range before {
		if !now[d] && !seen[d] {
			if _, placeholder := bl.Files[d]; !placeholder {
				gone = append(gone, d)
			}
		}
	}
	// Deepest first: a directory's contents before the directory.
	sort.Sort(sort.Reverse(sort.StringSlice(gone)))
	for _, name := range gone {
		out = append(out, BindChange{Path: name, Deleted: true})
	}
	return out, nil
}

// dirsOf returns every directory ("a/", "a/b/") that holds one of names, and the placeholders among names.
func dirsOf[V any](names map[string]V) map[string]bool {
	out := map[string]bool{}
	for n := range names {
		if strings.HasSuffix(n, "/") {
			out[n] = true
		}
		for d := path.Dir(strings.TrimSuffix(n, "/")); d != "." && d != "/"; d = path.Dir(d) {
			out[d+"/"] = true
		}
	}
	return out
}

// BindFile opens one file of owner's staged bind id.
func (s *Service) BindFile(ctx context.Context, owner, id, name string) (io.ReadCloser, error) {
	objs, err := s.bindObjects()
	if err != nil {
		return nil, err
	}
	if !bindIDPattern.MatchString(id) {
		return nil, noSuchBind(id)
	}
	clean, err := bindEntryName(name)
	if err != nil || clean == "" || strings.HasSuffix(name, "/") {
		return nil, errorf(errdefs.ErrInvalidArgument, "invalid path %q", name)
	}
	rc, err := objs.Open(ctx, BindFilesPrefix(owner, id)+clean)
	if errdefs.IsNotFound(err) {
		return nil, errorf(errdefs.ErrNotFound, "bind %s: no such file: %s", id, clean)
	}
	return rc, err
}

// BindSynced makes the bind's current objects its baseline: localproxy has written them back.
func (s *Service) BindSynced(ctx context.Context, owner, id string) error {
	objs, err := s.bindObjects()
	if err != nil {
		return err
	}
	bl, err := s.baseline(ctx, objs, owner, id)
	if err != nil {
		return err
	}
	return s.rebase(ctx, objs, owner, id, bl.File)
}

// RemoveBind deletes owner's staged bind id and its files.
func (s *Service) RemoveBind(ctx context.Context, owner, id string) error {
	objs, err := s.bindObjects()
	if err != nil {
		return err
	}
	if _, err := s.baseline(ctx, objs, owner, id); err != nil {
		return err
	}
	if _, err := objs.DeletePrefix(ctx, BindPrefix(owner, id)); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("bind %s: %w", id, err)
	}
	return nil
}
