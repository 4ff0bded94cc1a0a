package infracheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Unformatted returns the .tf files under dir (recursively) that `terraform fmt` would rewrite. terraform fmt is
// hclwrite.Format plus a few rewrites of pre-0.12 syntax (interpolation-only strings, quoted types) that this
// module does not use; scripts/terraform-fmt-check runs the real thing where a terraform binary can be built.
func Unformatted(dir string) ([]string, error) {
	var bad []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(path) != ".tf" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			bad = append(bad, path)
		}
		return nil
	})
	sort.Strings(bad)
	return bad, err
}
