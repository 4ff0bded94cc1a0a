package storage

import "github.com/runsock/runsock/integration/gcpsim/iam"

// Permissions Cloud Storage checks (cloud-run-volumes.md §2).
const (
	PermBucketGet    = "storage.buckets.get"
	PermObjectGet    = "storage.objects.get"
	PermObjectList   = "storage.objects.list"
	PermObjectCreate = "storage.objects.create"
	PermObjectDelete = "storage.objects.delete"
)

// policy is Cloud Storage's IAM for the predefined roles gcpsim checks
// (https://cloud.google.com/storage/docs/access-control/iam-roles). Bindings are per bucket.
var policy = iam.Service{
	Roles: map[string][]string{
		"roles/storage.objectViewer":       {PermObjectGet, PermObjectList},
		"roles/storage.objectCreator":      {PermObjectCreate},
		"roles/storage.objectUser":         {PermObjectGet, PermObjectList, PermObjectCreate, PermObjectDelete},
		"roles/storage.objectAdmin":        {PermObjectGet, PermObjectList, PermObjectCreate, PermObjectDelete},
		"roles/storage.admin":              {PermBucketGet, PermObjectGet, PermObjectList, PermObjectCreate, PermObjectDelete},
		"roles/storage.legacyBucketReader": {PermBucketGet, PermObjectList},
	},
	RolePrefix: "roles/storage.", Resource: "BUCKET",
}

// Binding grants Role to Member on a bucket (Resource), as a google_storage_bucket_iam_member does.
type Binding = iam.Binding

// ParseBinding reads BUCKET:ROLE=MEMBER[,MEMBER…]; the role may be given without "roles/storage.".
func ParseBinding(s string) ([]Binding, error) { return policy.ParseBinding(s) }

// Allowed reports whether email ("" = anonymous) holds perm on bucket under bindings.
func Allowed(bindings []Binding, bucket, email, perm string) bool {
	return policy.Allowed(bindings, bucket, email, perm)
}
