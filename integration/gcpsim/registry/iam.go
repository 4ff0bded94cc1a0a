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

// Binding grants Role to Member on Repository, as a google_artifact_registry_repository_iam_member does. Member is
// IAM's form: "serviceAccount:EMAIL", "user:EMAIL", "allAuthenticatedUsers" or "allUsers".
type Binding struct {
	Repository, Role, Member string
}

// roles is for New's check of configured bindings.
var roles = policy.Roles

// ParseBinding reads REPOSITORY:ROLE=MEMBER[,MEMBER…] (e.g.
// "runsock:roles/artifactregistry.reader=serviceAccount:cp@p.iam.gserviceaccount.com"); the role may be given
// without "roles/artifactregistry." and REPOSITORY may be "*" for every repository of the project.
func ParseBinding(s string) ([]Binding, error) {
	bs, err := policy.ParseBinding(s)
	if err != nil {
		return nil, err
	}
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = Binding{Repository: b.Resource, Role: b.Role, Member: b.Member}
	}
	return out, nil
}

// allowed reports whether email ("" = anonymous) holds perm on repo.
func allowed(bindings []Binding, repo, email, perm string) bool {
	bs := make([]iam.Binding, len(bindings))
	for i, b := range bindings {
		bs[i] = iam.Binding{Resource: b.Repository, Role: b.Role, Member: b.Member}
	}
	return policy.Allowed(bs, repo, email, perm)
}
