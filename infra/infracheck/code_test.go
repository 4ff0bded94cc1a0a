package infracheck

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGoogleAPIsReadsImports(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cloudrun/jobs.go":         `package cloudrun; import (run "cloud.google.com/go/run/apiv2"; _ "cloud.google.com/go/longrunning/autogen")`,
		"store/store.go":           `package store; import "cloud.google.com/go/firestore"`,
		"events/sub.go":            `package events; import "cloud.google.com/go/pubsub/v2"`,
		"images/push.go":           `package images; import "github.com/google/go-containerregistry/pkg/v1/remote"`,
		"images/meta.go":           `package images; import "cloud.google.com/go/compute/metadata"`,
		"store/store_test.go":      `package store; import "cloud.google.com/go/bigquery"`,
		"cloudruntest/fake.go":     `package cloudruntest; import "cloud.google.com/go/spanner"`,
		"testdata/x.go":            `package x; import "cloud.google.com/go/spanner"`,
		"logs/history.go":          `package logs; import "cloud.google.com/go/logging/logadmin"`,
		"identity/verify.go":       `package identity; import "google.golang.org/api/idtoken"`,
		"secrets/secretmanager.go": `package secrets; import sm "google.golang.org/api/secretmanager/v1"`,
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uses, err := GoogleAPIs(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, u := range uses {
		got[u.API] = u.By
	}
	want := map[string][]string{
		"artifactregistry.googleapis.com": {"images"},
		"firestore.googleapis.com":        {"store"},
		"logging.googleapis.com":          {"logs"},
		"pubsub.googleapis.com":           {"events"},
		"run.googleapis.com":              {"cloudrun"},
		"secretmanager.googleapis.com":    {"secrets"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GoogleAPIs =\n%v\nwant\n%v", got, want)
	}
}

func TestGoogleAPIsOfMissingDirIsEmpty(t *testing.T) {
	uses, err := GoogleAPIs(filepath.Join(t.TempDir(), "functions"))
	if err != nil || len(uses) != 0 {
		t.Errorf("GoogleAPIs(missing) = %v, %v; want nothing, nil", uses, err)
	}
}
