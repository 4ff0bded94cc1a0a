package filebinds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/runsock/runsock/linkproto"
)

// Place makes each bind's Path a symlink to its Target, creating missing parent directories; a file already at
// Path (the image's) is replaced, as a bind hides it. spec is EnvFileBinds's value ("" = none).
func Place(spec string) error {
	if spec == "" {
		return nil
	}
	var binds []linkproto.FileBind
	if err := json.Unmarshal([]byte(spec), &binds); err != nil {
		return fmt.Errorf("single-file binds: %w", err)
	}
	for _, b := range binds {
		if !filepath.IsAbs(b.Path) || !filepath.IsAbs(b.Target) {
			return fmt.Errorf("single-file bind %s: paths must be absolute", b.Path)
		}
		if err := os.MkdirAll(filepath.Dir(b.Path), 0o755); err != nil {
			return fmt.Errorf("single-file bind %s: %w", b.Path, err)
		}
		if fi, err := os.Lstat(b.Path); err == nil && fi.IsDir() {
			return fmt.Errorf("single-file bind %s: the image has a directory there", b.Path)
		} else if err == nil {
			if err := os.Remove(b.Path); err != nil {
				return fmt.Errorf("single-file bind %s: %w", b.Path, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("single-file bind %s: %w", b.Path, err)
		}
		if err := os.Symlink(b.Target, b.Path); err != nil {
			return fmt.Errorf("single-file bind %s: %w", b.Path, err)
		}
	}
	return nil
}
