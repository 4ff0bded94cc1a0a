package capture

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/runsock/runsock/agent/internal/archive"
)

// skipped are paths never part of a container's changes.
var skipped = map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/etc/hostname": true, "/etc/hosts": true,
	"/etc/resolv.conf": true, "/.runsock": true}

type entry struct {
	ctime syscall.Timespec
	ino   uint64
	dir   bool
}

// Snapshot is the root filesystem's state before the user's process starts.
type Snapshot struct {
	root    string
	entries map[string]entry
}

// Take walks root ("/" in a container).
func Take(root string) (*Snapshot, error) {
	s := New(root)
	return s, s.Take()
}

// New returns the snapshot of root, to be taken later (Take): the agent hands it to its sessions when it links,
// and takes it once the staged archives are applied, just before the user's process starts. Its Changes must
// not be asked for before Take has returned.
func New(root string) *Snapshot { return &Snapshot{root: root} }

// Take walks root now. After a failed Take, Changes fails.
func (s *Snapshot) Take() error {
	entries := map[string]entry{}
	err := walk(s.root, func(p string, st *syscall.Stat_t) {
		entries[p] = entry{ctime: st.Ctim, ino: st.Ino, dir: st.Mode&syscall.S_IFMT == syscall.S_IFDIR}
	})
	if err == nil {
		s.entries = entries
	}
	return err
}

// walk calls fn for every path under root on root's device, except skipped ones, with container paths ("/etc").
func walk(root string, fn func(p string, st *syscall.Stat_t)) error {
	var rootSt syscall.Stat_t
	if err := syscall.Lstat(root, &rootSt); err != nil {
		return err
	}
	return filepath.WalkDir(root, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil
			}
			return err
		}
		p := "/" + filepath.ToSlash(mustRel(root, hp))
		if p == "/." {
			return nil
		}
		if skipped[p] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(hp, &st); err != nil {
			return nil
		}
		if st.Dev != rootSt.Dev {
			if d.IsDir() {
				return filepath.SkipDir // another filesystem: a volume or a runtime mount
			}
			return nil
		}
		fn(p, &st)
		return nil
	})
}

func mustRel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}

// Change is one path of the container's changes. Kind is Docker's diff kind: 0 modified, 1 added, 2 deleted.
type Change struct {
	Path string
	Kind int
}

// Changes kinds, as Docker's container.ChangeType numbers them.
const (
	Modified = 0
	Added    = 1
	Deleted  = 2
)

// Changes compares the root filesystem with the snapshot. Size is the bytes of the regular files to write.
func (s *Snapshot) Changes() (changes []Change, size int64, err error) {
	if s.entries == nil {
		return nil, 0, errors.New("the filesystem snapshot taken before the process started failed")
	}
	seen := map[string]bool{}
	err = walk(s.root, func(p string, st *syscall.Stat_t) {
		seen[p] = true
		old, ok := s.entries[p]
		switch {
		case !ok || old.ino != st.Ino:
			changes = append(changes, Change{Path: p, Kind: Added})
		case old.ctime != st.Ctim:
			changes = append(changes, Change{Path: p, Kind: Modified})
		default:
			return
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFREG {
			size += st.Size
		}
	})
	if err != nil {
		return nil, 0, err
	}
	for p := range s.entries {
		if !seen[p] && (path.Dir(p) == "/" || seen[path.Dir(p)]) { // the top-most deleted path: its children need no whiteout of their own
			changes = append(changes, Change{Path: p, Kind: Deleted})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return dedupe(changes), size, nil
}

func dedupe(cs []Change) []Change {
	out := cs[:0]
	for i, c := range cs {
		if i > 0 && cs[i-1].Path == c.Path {
			continue
		}
		out = append(out, c)
	}
	return out
}

// WriteLayer writes changes as a layer tar to w: files with their contents, whiteouts (.wh.NAME) for deletions.
func (s *Snapshot) WriteLayer(w io.Writer, changes []Change) error {
	tw := tar.NewWriter(w)
	for _, c := range changes {
		name := c.Path[1:]
		if c.Kind == Deleted {
			h := &tar.Header{Name: path.Join(path.Dir(name), ".wh."+path.Base(name)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		if err := archive.AddEntry(tw, filepath.Join(s.root, filepath.FromSlash(name)), name); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone since the walk
			}
			return err
		}
	}
	return tw.Close()
}
