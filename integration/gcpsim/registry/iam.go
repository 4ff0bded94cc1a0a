package registry

import "github.com/runsock/runsock/integration/gcpsim/iam"

// Permissions Artifact Registry checks on a repository (google-front-door.md §4.4).
const (
	PermDownload = "artifactregistry.repositories.downloadArtifacts"
	PermUpload   = "artifactregistry.repositories.uploadArtifacts"
	PermDelete   = "artifactregistry.repositories.deleteArtifacts"
)

// AllRepositories as a Binding's Resource grants the role on every repository of the project (a project-level
// grant).
const AllRepositories = "*"

// policy is Artifact Registry's IAM: writer includes reader, repoAdmin and admin add delete.
var policy = iam.Service{
	Roles: map[string][]string{
		"roles/artifactregistry.reader":    {PermDownload},
		"roles/artifactregistry.writer":    {PermDownload, PermUpload},
		"roles/artifactregistry.repoAdmin": {PermDownload, PermUpload, PermDelete},
		"roles/artifactregistry.admin":     {PermDownload, PermUpload, PermDelete},
	},
	RolePrefix: "roles/artifactregistry.", Resource: "REPOSITORY", AllResources: AllRepositories,
}

// Binding grants Role to Member on a repository (Resource), as a google_artifact_registry_repository_iam_member
// does.
type Binding = iam.Binding

// ParseBinding reads REPOSITORY:ROLE=MEMBER[,MEMBER…]; the role may be given without "roles/artifactregistry." and
// REPOSITORY may be "*" for every repository of the project.
func ParseBinding(s string) ([]Binding, error) { return policy.ParseBinding(s) }

// allowed reports whether email ("" = anonymous) holds perm on repo.
func allowed(bindings []Binding, repo, email, perm string) bool {
	return policy.Allowed(bindings, repo, email, perm)
}
