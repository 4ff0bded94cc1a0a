package binds

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// record is what one container's create staged.
type record struct {
	Container string
	Name      string        `json:",omitempty"`
	Binds     []*bindRecord // one per distinct source
	// finished is set (under the container's lock) once its stagings are being removed: a sync still waiting for
	// the lock must not read a staging half deleted, which would look like the container deleting the files.
	finished bool
}

// bindRecord is one staged source.
type bindRecord struct {
	ID       string
	Source   string
	ReadOnly bool `json:",omitempty"` // every use of the source in the container is read-only: nothing flows back
	File     bool `json:",omitempty"` // Source is a file (a single-file bind): its staging holds that file alone
	// Files is the laptop's tree as last uploaded or synced (relative path → state): a file whose state differs now
	// was changed on the laptop since.
	Files map[string]fileState
}

// fileState is what tells whether a laptop file changed: its size, modification time and mode.
type fileState struct {
	Size    int64       `json:"s,omitempty"`
	ModTime int64       `json:"t"`
	Mode    fs.FileMode `json:"m"`
}

func stateOf(fi fs.FileInfo) fileState {
	return fileState{Size: fi.Size(), ModTime: fi.ModTime().UnixNano(), Mode: fi.Mode()}
}

func (m *Manager) path(id string) string { return filepath.Join(m.cfg.StateDir, id+".json") }

// load reads the records a previous run left.
func (m *Manager) load() {
	if m.cfg.StateDir == "" {
		return
	}
	entries, err := os.ReadDir(m.cfg.StateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(m.cfg.StateDir, e.Name()))
		var r record
		if err != nil || json.Unmarshal(raw, &r) != nil || r.Container == "" {
			m.log.Warn("binds: unreadable state file", "file", e.Name())
			continue
		}
		m.records[r.Container] = &r
	}
}

// save writes r (atomically: a crash leaves the old or the new record).
func (m *Manager) save(r *record) {
	if m.cfg.StateDir == "" {
		return
	}
	if err := os.MkdirAll(m.cfg.StateDir, 0o700); err != nil {
		m.log.Warn("binds: state not saved", "err", err)
		return
	}
	m.mu.Lock()
	raw, _ := json.Marshal(r)
	m.mu.Unlock()
	tmp := m.path(r.Container) + ".tmp"
	err := os.WriteFile(tmp, raw, 0o600)
	if err == nil {
		err = os.Rename(tmp, m.path(r.Container))
	}
	if err != nil {
		m.log.Warn("binds: state not saved", "err", err)
	}
}

func (m *Manager) forget(id string) {
	m.mu.Lock()
	delete(m.records, id)
	delete(m.locks, id)
	m.mu.Unlock()
	if m.cfg.StateDir != "" {
		os.Remove(m.path(id))
	}
}

// lookup finds a record by container ID, unique ID prefix or name.
func (m *Manager) lookup(ref string) *record {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref = strings.TrimPrefix(ref, "/")
	if r := m.records[ref]; r != nil {
		return r
	}
	var found []*record
	for _, r := range m.records {
		if r.Name == ref {
			return r
		}
		if strings.HasPrefix(r.Container, ref) {
			found = append(found, r)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return nil
}

// lock returns the container's sync lock.
func (m *Manager) lock(id string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		m.locks[id] = l
	}
	return l
}
