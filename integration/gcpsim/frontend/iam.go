package frontend

import (
	"fmt"
	"strings"
)

// members is the IAM policy's roles/run.invoker binding (fact 1.1.1), by kind.
type members struct {
	users, serviceAccounts, domains map[string]bool
}

// parseMembers reads user:EMAIL, serviceAccount:EMAIL, domain:DOMAIN and group:EMAIL (accepted, never matched).
func parseMembers(list []string) (members, error) {
	m := members{users: map[string]bool{}, serviceAccounts: map[string]bool{}, domains: map[string]bool{}}
	var bad []string
	for _, s := range list {
		kind, v, ok := strings.Cut(strings.TrimSpace(s), ":")
		v = strings.ToLower(v)
		switch {
		case !ok || v == "":
			bad = append(bad, s)
		case kind == "user":
			m.users[v] = true
		case kind == "serviceAccount":
			m.serviceAccounts[v] = true
		case kind == "domain":
			m.domains[v] = true
		case kind == "group":
		default:
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		return m, fmt.Errorf("invoker members %q: want user:EMAIL, serviceAccount:EMAIL, domain:DOMAIN or group:EMAIL", bad)
	}
	return m, nil
}

// invoker reports whether email holds the role. A service account matches only serviceAccount: members and a person
// only user: and domain: members.
func (m members) invoker(email string) bool {
	email = strings.ToLower(email)
	if isServiceAccount(email) {
		return m.serviceAccounts[email]
	}
	if m.users[email] {
		return true
	}
	_, domain, _ := strings.Cut(email, "@")
	return m.domains[domain]
}
