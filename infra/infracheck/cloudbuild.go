package infracheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"
)

// BuilderImages are the only step images cloudbuild.yaml may use: Google's docker and gcloud builders and the
// official Go image, all of which exist and are pulled by Cloud Build as is.
var BuilderImages = map[string]bool{
	"gcr.io/cloud-builders/docker":             true,
	"gcr.io/google.com/cloudsdktool/cloud-sdk": true,
	"golang:1.26": true,
}

// RunImages are images cloudbuild.yaml's steps may start themselves (docker run): Google's emulators image.
var RunImages = map[string]bool{
	"gcr.io/google.com/cloudsdktool/cloud-sdk:emulators": true,
}

// RequiredSubstitutions must be declared (with defaults) so operators can override them.
var RequiredSubstitutions = []string{"_REGION", "_REPOSITORY"}

type cloudBuild struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Steps         []struct {
		ID         string   `yaml:"id"`
		Name       string   `yaml:"name"`
		Entrypoint string   `yaml:"entrypoint"`
		Args       []string `yaml:"args"`
		WaitFor    []string `yaml:"waitFor"`
	} `yaml:"steps"`
	Images []string `yaml:"images"`
}

var (
	repoPath     = regexp.MustCompile(`(?:^|[\s=])((?:scripts|build)/[A-Za-z0-9_.-]+)`)
	userSubst    = regexp.MustCompile(`\$\{?(_[A-Z0-9_]+)\}?`)
	commitTagged = regexp.MustCompile(`:\$\{?COMMIT_SHA\}?$`)
	dockerRun    = regexp.MustCompile(`docker run [^\n]*?\s((?:[a-z0-9.-]+\.(?:io|dev|com)/)[^\s]+)`)
)

// CheckCloudBuild reports what in the Cloud Build config at path would fail: a step image outside BuilderImages,
// a script or Dockerfile that is not in the repository at repoRoot, an undeclared or unused substitution, a
// waitFor naming no step, an image not tagged with the commit.
func CheckCloudBuild(path, repoRoot string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var cb cloudBuild
	if err := yaml.Unmarshal(b, &cb); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var p []string
	if len(cb.Steps) == 0 {
		p = append(p, "no steps")
	}
	ids := map[string]bool{}
	used := map[string]bool{}
	for i, s := range cb.Steps {
		name := s.ID
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		ids[s.ID] = true
		if !BuilderImages[s.Name] {
			p = append(p, fmt.Sprintf("step %s: image %q is not an allowed builder image", name, s.Name))
		}
		for _, a := range append([]string{s.Entrypoint}, s.Args...) {
			for _, m := range repoPath.FindAllStringSubmatch(a, -1) {
				if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
					p = append(p, fmt.Sprintf("step %s: %s is not in the repository", name, m[1]))
				}
			}
			for _, m := range userSubst.FindAllStringSubmatch(a, -1) {
				used[m[1]] = true
			}
			for _, m := range dockerRun.FindAllStringSubmatch(a, -1) {
				if !RunImages[m[1]] {
					p = append(p, fmt.Sprintf("step %s: docker run of %q, not an allowed image", name, m[1]))
				}
			}
		}
		for _, w := range s.WaitFor {
			if w != "-" && !ids[w] {
				p = append(p, fmt.Sprintf("step %s: waitFor %q names no earlier step", name, w))
			}
		}
	}
	for _, img := range cb.Images {
		for _, m := range userSubst.FindAllStringSubmatch(img, -1) {
			used[m[1]] = true
		}
		if !commitTagged.MatchString(img) {
			p = append(p, fmt.Sprintf("image %s: not tagged with $COMMIT_SHA", img))
		}
	}
	for k := range used {
		if _, ok := cb.Substitutions[k]; !ok {
			p = append(p, fmt.Sprintf("substitution %s: used but not declared", k))
		}
	}
	for k := range cb.Substitutions {
		if !used[k] {
			p = append(p, fmt.Sprintf("substitution %s: declared but unused (Cloud Build rejects it)", k))
		}
	}
	for _, k := range RequiredSubstitutions {
		if _, ok := cb.Substitutions[k]; !ok {
			p = append(p, fmt.Sprintf("substitution %s: must be declared", k))
		}
	}
	sort.Strings(p)
	return p, nil
}
