package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// collection holds the image records.
const collection = "images"

// record is one image an owner has, as stored in Firestore.
type record struct {
	Owner string `firestore:"owner"`
	// ID is "sha256:" + the config digest, Docker's image ID.
	ID          string   `firestore:"id"`
	RepoTags    []string `firestore:"repoTags"`
	RepoDigests []string `firestore:"repoDigests"`
	// Reference is the registry's digest reference of the platform manifest: what a job runs.
	Reference string            `firestore:"reference"`
	Config    []byte            `firestore:"config"` // raw OCI config JSON
	Size      int64             `firestore:"size"`
	Created   time.Time         `firestore:"created"`
	Labels    map[string]string `firestore:"labels"`
	PulledAt  time.Time         `firestore:"pulledAt"`
}

// docID is the record's document ID: the owner's hash and the image ID, so owners never share a record.
func docID(owner, id string) string {
	h := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(h[:8]) + "-" + strings.TrimPrefix(id, "sha256:")
}

func (r *record) configFile() (*v1.ConfigFile, error) {
	var cf v1.ConfigFile
	if err := json.Unmarshal(r.Config, &cf); err != nil {
		return nil, err
	}
	return &cf, nil
}

func (r *record) hasTag(tag string) bool {
	for _, t := range r.RepoTags {
		if t == tag {
			return true
		}
	}
	return false
}

func without(list []string, s string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func with(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
