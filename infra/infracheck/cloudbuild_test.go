package infracheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cloudBuildFile = "../../cloudbuild.yaml"

func TestCloudBuildNamesOnlyRealImagesAndFiles(t *testing.T) {
	p, err := CheckCloudBuild(cloudBuildFile, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range p {
		t.Error(problem)
	}
}

// TestCloudBuildDeploysBothServices: the build ends with both services running the commit's images.
func TestCloudBuildDeploysBothServices(t *testing.T) {
	b, err := os.ReadFile(cloudBuildFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--image=${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/controlplane:$COMMIT_SHA",
		"--image=${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/functions:$COMMIT_SHA",
		"go test",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("cloudbuild.yaml lacks %q", want)
		}
	}
}

func TestCloudBuildCheckFails(t *testing.T) {
	orig, err := os.ReadFile(cloudBuildFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown builder image", "name: golang:1.26", "name: golang:1.99", `image "golang:1.99" is not an allowed builder image`},
		{"missing script", "scripts/build-images", "scripts/no-such-script", "scripts/no-such-script is not in the repository"},
		{"missing Dockerfile", "build/functions.Dockerfile", "build/function.Dockerfile", "build/function.Dockerfile is not in the repository"},
		{"undeclared substitution", "--region=${_REGION}\n      - --project=$PROJECT_ID\n      - --quiet\n    waitFor: [push-functions]",
			"--region=${_ZONE}\n      - --project=$PROJECT_ID\n      - --quiet\n    waitFor: [push-functions]", "substitution _ZONE: used but not declared"},
		{"unknown emulator image", "--name runsock-pubsub gcr.io/google.com/cloudsdktool/cloud-sdk:emulators", "--name runsock-pubsub gcr.io/google.com/cloudsdktool/cloud-sdk:emulatorz",
			`docker run of "gcr.io/google.com/cloudsdktool/cloud-sdk:emulatorz", not an allowed image`},
		{"dangling waitFor", "waitFor: [binaries]", "waitFor: [compile]", `waitFor "compile" names no earlier step`},
		{"image not tagged with the commit", "/functions:$COMMIT_SHA\n\noptions", "/functions:latest\n\noptions", "not tagged with $COMMIT_SHA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mutated := strings.Replace(string(orig), tt.old, tt.new, 1)
			if mutated == string(orig) {
				t.Fatalf("cloudbuild.yaml has no %q", tt.old)
			}
			path := filepath.Join(t.TempDir(), "cloudbuild.yaml")
			if err := os.WriteFile(path, []byte(mutated), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := CheckCloudBuild(path, repoRoot)
			if err != nil {
				t.Fatal(err)
			}
			if !containsProblem(p, tt.want) {
				t.Errorf("problems %q\nwant one containing %q", p, tt.want)
			}
		})
	}
}
