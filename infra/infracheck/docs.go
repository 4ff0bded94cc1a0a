package infracheck

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

var (
	outputCommand = regexp.MustCompile(`terraform (?:-chdir=\S+ )?output(?: -raw| -json)? ([a-z0-9_]+)`)
	outputRow     = regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|")
)

// Doc is what an operator's document says about the module's outputs.
type Doc struct {
	Used  map[string]bool // named in `terraform output NAME` commands
	Table map[string]bool // rows of the table in the section whose heading is "Outputs"
}

// ReadDoc reads a Markdown document.
func ReadDoc(path string) (Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Doc{}, fmt.Errorf("read %s: %w", path, err)
	}
	d := Doc{Used: map[string]bool{}, Table: map[string]bool{}}
	for _, m := range outputCommand.FindAllStringSubmatch(string(b), -1) {
		d.Used[m[1]] = true
	}
	for _, m := range outputRow.FindAllStringSubmatch(section(string(b), "Outputs"), -1) {
		d.Table[m[1]] = true
	}
	return d, nil
}

// section returns the text under the first Markdown heading titled title, up to the next heading of the same
// or a higher level.
func section(doc, title string) string {
	lines := strings.Split(doc, "\n")
	level := 0
	var out []string
	for _, l := range lines {
		hashes := len(l) - len(strings.TrimLeft(l, "#"))
		isHeading := hashes > 0 && strings.HasPrefix(l[hashes:], " ")
		switch {
		case level == 0 && isHeading && strings.TrimSpace(l[hashes:]) == title:
			level = hashes
		case level > 0 && isHeading && hashes <= level:
			return strings.Join(out, "\n")
		case level > 0:
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// CheckOutputs reports outputs the document uses or tabulates that the module lacks (its commands would fail)
// and outputs the module declares that the document's table leaves out.
func CheckOutputs(m *Module, d Doc) []string {
	var p []string
	declared := map[string]bool{}
	for _, o := range m.Outputs() {
		declared[o] = true
		if !d.Table[o] {
			p = append(p, fmt.Sprintf("output %s: declared but missing from the document's Outputs table", o))
		}
	}
	for _, set := range []map[string]bool{d.Used, d.Table} {
		for o := range set {
			if !declared[o] {
				p = append(p, fmt.Sprintf("output %s: the document names it but the module declares no such output", o))
			}
		}
	}
	sort.Strings(p)
	return compact(p)
}

func compact(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
