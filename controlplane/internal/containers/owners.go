package containers

import (
	"context"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/identity"
)

// Who reaches which container. Everyone reaches their own containers by name, ID prefix or full ID. An admin sees
// everyone's (docker ps, docker events) but changes only what they ask for: a name, an ID prefix and a prune cover the
// admin's own containers; another user's container takes its full ID, or the owner filter naming that user
// (docker ps / container prune --filter owner=EMAIL). Each change an admin makes to another user's container is
// recorded as an admin event (AdminAction), which the owner and the admins see in docker events.

// OwnerFilter is the filter key (docker ps, container prune, events) that names whose containers to cover. Anyone
// may name themselves; only admins may name someone else.
const OwnerFilter = "owner"

// AdminAction is the event action that records an admin's change to another user's container. Its attributes say
// who did it (AdminAttr) and what they did (ActionAttr: "start", "stop", "kill", "restart", "remove", "rename",
// "prune", "exec", "archive put", ...), besides the container's name and image as on every event.
const (
	AdminAction = "admin"
	AdminAttr   = "admin"
	ActionAttr  = "action"
)

// Scope is the owners a list, prune or event stream covers.
type Scope struct {
	// Owner is the owner to query ("" = every owner's).
	Owner string
	// owners, when set, are the only owners kept (several owner filters).
	owners map[string]bool
}

// Covers reports whether owner's objects are in the scope.
func (sc Scope) Covers(owner string) bool {
	return (sc.Owner == "" || sc.Owner == owner) && (sc.owners == nil || sc.owners[owner])
}

// ScopeFor is what p covers with the owner filter values named: the named owners (only admins may name others),
// else everyone's when everyone is asked for and p is an admin (listing), else p's own.
func ScopeFor(p identity.Principal, named []string, everyone bool) (Scope, error) {
	if len(named) == 0 {
		if everyone && p.Admin {
			return Scope{}, nil
		}
		return Scope{Owner: p.Email}, nil
	}
	owners := map[string]bool{}
	for _, v := range named {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" {
			return Scope{}, errorf(errdefs.ErrInvalidArgument, "invalid filter '%s=': an owner is an email", OwnerFilter)
		}
		if v != p.Email && !p.Admin {
			return Scope{}, errorf(errdefs.ErrPermissionDenied, "only runsock admins may act on another user's containers (%s=%s)", OwnerFilter, v)
		}
		owners[v] = true
	}
	if len(owners) == 1 {
		for o := range owners {
			return Scope{Owner: o}, nil
		}
	}
	return Scope{owners: owners}, nil
}

// Audit records, when p is not c's owner, that admin p did action to c: an event of c's (so its owner sees it)
// saying which admin did what. It is a no-op for the owner's own actions.
func (s *Service) Audit(ctx context.Context, p identity.Principal, c *Container, action string) {
	if c.Owner == p.Email {
		return
	}
	s.log.Info("admin action on another user's container", "admin", p.Email, "action", action, "container", c.ID, "owner", c.Owner)
	s.emit(ctx, c, AdminAction, map[string]string{AdminAttr: p.Email, ActionAttr: action})
}

// resolveFor resolves ref for p to change it with action, and audits an admin's change to another user's container.
func (s *Service) resolveFor(ctx context.Context, p identity.Principal, ref, action string) (*Container, error) {
	c, err := s.Resolve(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	s.Audit(ctx, p, c, action)
	return c, nil
}
