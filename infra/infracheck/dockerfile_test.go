package infracheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDockerfilesAreScratchNonRootAndStaged(t *testing.T) {
	p, err := CheckDockerfiles(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range p {
		t.Error(problem)
	}
}

func TestDockerfileCheckFails(t *testing.T) {
	tests := []struct{ name, old, new, want string }{
		{"root user", "USER 65532:65532", "USER root", `controlplane.Dockerfile: runs as root (USER "root")`},
		{"no user", "USER 65532:65532", "", `controlplane.Dockerfile: runs as root (USER "")`},
		{"pulled base", "FROM scratch", "FROM golang:1.26", "controlplane.Dockerfile: FROM golang:1.26 pulls an image"},
		{"unstaged file", "COPY agent /agent", "COPY agent-v2 /agent", "controlplane.Dockerfile: COPY agent-v2, which scripts/build-images does not put"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, rel := range []string{"scripts/build-images", "build/controlplane.Dockerfile", "build/functions.Dockerfile"} {
				b, err := os.ReadFile(filepath.Join(repoRoot, rel))
				if err != nil {
					t.Fatal(err)
				}
				if rel == "build/controlplane.Dockerfile" {
					mutated := strings.Replace(string(b), tt.old, tt.new, 1)
					if mutated == string(b) {
						t.Fatalf("%s has no %q", rel, tt.old)
					}
					b = []byte(mutated)
				}
				if err := os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, rel), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := CheckDockerfiles(root)
			if err != nil {
				t.Fatal(err)
			}
			if !containsProblem(p, tt.want) {
				t.Errorf("problems %q\nwant one containing %q", p, tt.want)
			}
		})
	}
}
