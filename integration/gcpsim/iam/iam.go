package iam

import (
	"fmt"
	"slices"
	"strings"
)

// Binding grants Role to Member on Resource. Member is IAM's form: "serviceAccount:EMAIL", "user:EMAIL",
// "allAuthenticatedUsers" or "allUsers".
type Binding struct {
	Resource, Role, Member string
}

// Service is one service's IAM.
type Service struct {
	// Roles maps the predefined roles gcpsim knows to the permissions each grants.
	Roles map[string][]string
	// RolePrefix completes a role given by its short name ("roles/artifactregistry." makes "reader" a role).
	RolePrefix string
	// Resource names what a binding is on, for messages ("REPOSITORY", "BUCKET").
	Resource string
	// AllResources, when not "", is the Resource of a binding on every resource of the project (a project-level
	// grant).
	AllResources string
}

// KnowsRole reports whether role is one of the service's predefined roles.
func (s Service) KnowsRole(role string) bool {
	_, ok := s.Roles[role]
	return ok
}

// ParseBinding reads RESOURCE:ROLE=MEMBER[,MEMBER…] (e.g.
// "runsock:roles/artifactregistry.reader=serviceAccount:cp@p.iam.gserviceaccount.com"); the role may be given
// without the service's role prefix.
func (s Service) ParseBinding(str string) ([]Binding, error) {
	resource, rest, ok := strings.Cut(str, ":")
	role, members, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 || resource == "" || role == "" || members == "" {
		return nil, fmt.Errorf("IAM binding %q: want %s:ROLE=MEMBER[,MEMBER...]", str, s.Resource)
	}
	if !strings.HasPrefix(role, "roles/") {
		role = s.RolePrefix + role
	}
	if !s.KnowsRole(role) {
		return nil, fmt.Errorf("IAM binding %q: unknown role %s", str, role)
	}
	var out []Binding
	for _, m := range strings.Split(members, ",") {
		m = strings.TrimSpace(m)
		kind, _, _ := strings.Cut(m, ":")
		switch {
		case m == "allUsers" || m == "allAuthenticatedUsers":
		case (kind == "serviceAccount" || kind == "user") && strings.Contains(m, "@"):
		default:
			return nil, fmt.Errorf("IAM binding %q: member %q: want serviceAccount:EMAIL, user:EMAIL, allAuthenticatedUsers or allUsers", str, m)
		}
		out = append(out, Binding{Resource: resource, Role: role, Member: m})
	}
	return out, nil
}

// Allowed reports whether email ("" = anonymous) holds perm on resource under bindings. Emails compare without
// regard to case (as the registry's check always did; unconfirmed against Google, whose tokens carry the lowercase
// address the account was made with).
func (s Service) Allowed(bindings []Binding, resource, email, perm string) bool {
	for _, b := range bindings {
		if b.Resource != resource && (s.AllResources == "" || b.Resource != s.AllResources) {
			continue
		}
		if !slices.Contains(s.Roles[b.Role], perm) {
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
