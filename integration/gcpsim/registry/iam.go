package registry

import (
	"fmt"
	"slices"
	"strings"
)

// Permissions Artifact Registry checks on a repository (google-front-door.md §4.4).
const (
	PermDownload = "artifactregistry.repositories.downloadArtifacts"
	PermUpload   = "artifactregistry.repositories.uploadArtifacts"
	PermDelete   = "artifactregistry.repositories.deleteArtifacts"
)

// roles maps the predefined roles to the permissions gcpsim checks: writer includes reader, repoAdmin and admin
// add delete.
var roles = map[string][]string{
	"roles/artifactregistry.reader":    {PermDownload},
	"roles/artifactregistry.writer":    {PermDownload, PermUpload},
	"roles/artifactregistry.repoAdmin": {PermDownload, PermUpload, PermDelete},
	"roles/artifactregistry.admin":     {PermDownload, PermUpload, PermDelete},
}

// AllRepositories as a Binding's Repository grants the role on every repository of the project (a project-level
// grant).
const AllRepositories = "*"

// Binding grants Role to Member on Repository, as a google_artifact_registry_repository_iam_member does. Member is
// IAM's form: "serviceAccount:EMAIL", "user:EMAIL", "allAuthenticatedUsers" or "allUsers".
type Binding struct {
	Repository, Role, Member string
}

// ParseBinding reads REPOSITORY:ROLE=MEMBER[,MEMBER…] (e.g.
// "runsock:roles/artifactregistry.reader=serviceAccount:cp@p.iam.gserviceaccount.com"); the role may be given
// without "roles/artifactregistry." and REPOSITORY may be "*" for every repository of the project.
func ParseBinding(s string) ([]Binding, error) {
	repo, rest, ok := strings.Cut(s, ":")
	role, members, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || repo == "" || role == "" || members == "" {
		return nil, fmt.Errorf("IAM binding %q: want REPOSITORY:ROLE=MEMBER[,MEMBER...]", s)
	}
	if !strings.HasPrefix(role, "roles/") {
		role = "roles/artifactregistry." + role
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
		out = append(out, Binding{Repository: repo, Role: role, Member: m})
	}
	return out, nil
}

// allowed reports whether email ("" = anonymous) holds perm on repo.
func allowed(bindings []Binding, repo, email, perm string) bool {
	for _, b := range bindings {
		if b.Repository != repo && b.Repository != AllRepositories {
			continue
		}
		if !slices.Contains(roles[b.Role], perm) {
			continue
		}
		switch b.Member {
		case "allUsers":
			return true
		case "allAuthenticatedUsers":
			if email != "" {
				return true
			}
		default:
			if _, e, _ := strings.Cut(b.Member, ":"); email != "" && strings.EqualFold(e, email) {
				return true
			}
		}
	}
	return false
}
