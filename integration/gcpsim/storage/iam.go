package storage

import (
	"fmt"
	"slices"
	"strings"
)

// Permissions Cloud Storage checks (cloud-run-volumes.md §2).
const (
	PermBucketGet    = "storage.buckets.get"
	PermObjectGet    = "storage.objects.get"
	PermObjectList   = "storage.objects.list"
	PermObjectCreate = "storage.objects.create"
	PermObjectDelete = "storage.objects.delete"
)

// roles maps the predefined roles to the permissions gcpsim checks
// (https://cloud.google.com/storage/docs/access-control/iam-roles).
var roles = map[string][]string{
	"roles/storage.objectViewer":       {PermObjectGet, PermObjectList},
	"roles/storage.objectCreator":      {PermObjectCreate},
	"roles/storage.objectUser":         {PermObjectGet, PermObjectList, PermObjectCreate, PermObjectDelete},
	"roles/storage.objectAdmin":        {PermObjectGet, PermObjectList, PermObjectCreate, PermObjectDelete},
	"roles/storage.admin":              {PermBucketGet, PermObjectGet, PermObjectList, PermObjectCreate, PermObjectDelete},
	"roles/storage.legacyBucketReader": {PermBucketGet, PermObjectList},
}

// Binding grants Role to Member on Bucket, as a google_storage_bucket_iam_member does. Member is IAM's form:
// "serviceAccount:EMAIL", "user:EMAIL", "allAuthenticatedUsers" or "allUsers".
type Binding struct {
	Bucket, Role, Member string
}

// ParseBinding reads BUCKET:ROLE=MEMBER[,MEMBER…]; the role may be given without "roles/storage.".
func ParseBinding(s string) ([]Binding, error) {
	bucket, rest, ok := strings.Cut(s, ":")
	role, members, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || bucket == "" || role == "" || members == "" {
		return nil, fmt.Errorf("IAM binding %q: want BUCKET:ROLE=MEMBER[,MEMBER...]", s)
	}
	if !strings.HasPrefix(role, "roles/") {
		role = "roles/storage." + role
	}
	if _, ok := roles[role]; !ok {
		return nil, fmt.Errorf("IAM binding %q: unknown role %s", s, role)
	}
	var out []Binding
	for _, m := range strings.Split(members, ",") {
		m = strings.TrimSpace(m)
		kind, _, _ := strings.Cut(m, ":")
		switch {
		case m == "allUsers" || m == "allAuthenticatedUsers":
		case (kind == "serviceAccount" || kind == "user") && strings.Contains(m, "@"):
		default:
			return nil, fmt.Errorf("IAM binding %q: member %q: want serviceAccount:EMAIL, user:EMAIL, allAuthenticatedUsers or allUsers", s, m)
		}
		out = append(out, Binding{Bucket: bucket, Role: role, Member: m})
	}
	return out, nil
}

// Allowed reports whether email ("" = anonymous) holds perm on bucket under bindings.
func Allowed(bindings []Binding, bucket, email, perm string) bool {
	for _, b := range bindings {
		if b.Bucket != bucket || !slices.Contains(roles[b.Role], perm) {
			continue
		}
		switch {
		case b.Member == "allUsers":
			return true
		case b.Member == "allAuthenticatedUsers" && email != "":
			return true
		case email != "" && (b.Member == "serviceAccount:"+email || b.Member == "user:"+email):
			return true
		}
	}
	return false
}
