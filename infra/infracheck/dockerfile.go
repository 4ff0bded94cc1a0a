package infracheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// stageSpec is build-images' MAIN:BINARY argument, e.g. agent/cmd/agent:agent.
var stageSpec = regexp.MustCompile(`\b[a-z0-9_-]+/cmd/[a-z0-9_-]+:([a-z0-9_.-]+)`)

// CheckDockerfiles holds build/*.Dockerfile to what the images must be: FROM scratch only (nothing to pull, so
// they build on an engine without internet access), a non-root USER, and every COPY source a file that
// scripts/build-images puts into the build context (a binary it builds, or the CA bundle).
func CheckDockerfiles(repoRoot string) ([]string, error) {
	script, err := os.ReadFile(filepath.Join(repoRoot, "scripts", "build-images"))
	if err != nil {
		return nil, fmt.Errorf("read build-images: %w", err)
	}
	staged := map[string]bool{"ca-certificates.crt": true}
	for _, m := range stageSpec.FindAllStringSubmatch(string(script), -1) {
		staged[m[1]] = true
	}
	paths, err := filepath.Glob(filepath.Join(repoRoot, "build", "*.Dockerfile"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no build/*.Dockerfile (%v)", err)
	}
	var p []string
	for _, path := range paths {
		p = append(p, checkDockerfile(path, staged)...)
	}
	sort.Strings(p)
	return p, nil
}

func checkDockerfile(path string, staged map[string]bool) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	name := filepath.Base(path)
	var p []string
	user := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			if len(fields) < 2 || fields[1] != "scratch" {
				p = append(p, fmt.Sprintf("%s: FROM %s pulls an image; build FROM scratch with binaries built outside", name, strings.Join(fields[1:], " ")))
			}
		case "USER":
			if len(fields) > 1 {
				user = fields[1]
			}
		case "COPY", "ADD":
			for _, src := range fields[1 : len(fields)-1] {
				if strings.HasPrefix(src, "--") {
					continue
				}
				if !staged[src] {
					p = append(p, fmt.Sprintf("%s: COPY %s, which scripts/build-images does not put in the build context", name, src))
				}
			}
		}
	}
	if u := strings.SplitN(user, ":", 2)[0]; u == "" || u == "0" || u == "root" {
		p = append(p, fmt.Sprintf("%s: runs as root (USER %q); use a non-root uid such as 65532", name, user))
	}
	return p
}
