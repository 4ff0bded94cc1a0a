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

// Binding grants Role to Member on Bucket, as a google_storage_bucket_iam_member does. Member is IAM's form:
// "serviceAccount:EMAIL", "user:EMAIL", "allAuthenticatedUsers" or "allUsers".
type Binding struct {
	Bucket, Role, Member string
}

// roles is for New's check of configured bindings.
var roles = policy.Roles

// ParseBinding reads BUCKET:ROLE=MEMBER[,MEMBER…]; the role may be given without "roles/storage.".
func ParseBinding(s string) ([]Binding, error) {
	bs, err := policy.ParseBinding(s)
	if err != nil {
		return nil, err
	}
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = Binding{Bucket: b.Resource, Role: b.Role, Member: b.Member}
	}
	return out, nil
}

// Allowed reports whether email ("" = anonymous) holds perm on bucket under bindings.
func Allowed(bindings []Binding, bucket, email, perm string) bool {
	bs := make([]iam.Binding, len(bindings))
	for i, b := range bindings {
		bs[i] = iam.Binding{Resource: b.Bucket, Role: b.Role, Member: b.Member}
	}
	return policy.Allowed(bs, bucket, email, perm)
}
