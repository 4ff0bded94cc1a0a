package containers_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/runsock/runsock/controlplane/internal/containers"
	"github.com/runsock/runsock/controlplane/internal/containers/containerstest"
	"github.com/runsock/runsock/controlplane/internal/identity"
)

var (
	alice = identity.Principal{Email: "alice@example.com"}
	bob   = identity.Principal{Email: "bob@example.com"}
	admin = identity.Principal{Email: "admin@example.com", Admin: true}
)

// Names and ID prefixes reach only the caller's own containers, admins' included; a full ID reaches another
// user's container for an admin only.
func TestResolveAdminReachesOthersOnlyByFullID(t *testing.T) {
	s, _, _ := testService(t)
	aliceDB := mustCreate(t, s, alice, "db", nil)
	aliceWeb := mustCreate(t, s, alice, "web", nil)
	adminWeb := mustCreate(t, s, admin, "web", nil)
	tests := []struct {
		name   string
		p      identity.Principal
		ref    string
		want   *containers.Container // nil = No such container
		wantIn string                // the error wording when want is nil
	}{
		{"owner by name", alice, "db", aliceDB, ""},
		{"owner by slash name", alice, "/db", aliceDB, ""},
		{"owner by prefix", alice, aliceDB.ID[:12], aliceDB, ""},
		{"owner by full ID", alice, aliceDB.ID, aliceDB, ""},
		{"admin by another's name", admin, "db", nil, "No such container: db"},
		{"admin's own name wins", admin, "web", adminWeb, ""},
		{"admin by another's prefix", admin, aliceWeb.ID[:12], nil, "No such container"},
		{"admin by another's full ID", admin, aliceWeb.ID, aliceWeb, ""},
		{"user by another's name", bob, "db", nil, "No such container"},
		{"user by another's prefix", bob, aliceDB.ID[:12], nil, "No such container"},
		{"user by another's full ID", bob, aliceDB.ID, nil, "No such container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Resolve(context.Background(), tt.p, tt.ref)
			if tt.want == nil {
				if !errdefs.IsNotFound(err) {
					t.Fatalf("Resolve(%s, %q) = %v, %v; want not found", tt.p.Email, tt.ref, got, err)
				}
				return
			}
			if err != nil || got.ID != tt.want.ID {
				t.Fatalf("Resolve(%s, %q) = %v, %v; want %s", tt.p.Email, tt.ref, got, err, tt.want.ID)
			}
		})
	}
}

// A prune covers the caller's own containers; an admin reaches another user's with the owner filter, audited.
func TestPruneCoversTheCallersOwn(t *testing.T) {
	tests := []struct {
		name    string
		p       identity.Principal
		filters map[string][]string
		pruned  []string // owners whose container was pruned
		err     error
	}{
		{"admin without a filter", admin, nil, []string{admin.Email}, nil},
		{"user without a filter", alice, nil, []string{alice.Email}, nil},
		{"admin names an owner", admin, map[string][]string{containers.OwnerFilter: {"Alice@example.com"}}, []string{alice.Email}, nil},
		{"admin names two owners", admin, map[string][]string{containers.OwnerFilter: {alice.Email, bob.Email}}, []string{alice.Email, bob.Email}, nil},
		{"user names themselves", bob, map[string][]string{containers.OwnerFilter: {bob.Email}}, []string{bob.Email}, nil},
		{"user names another", bob, map[string][]string{containers.OwnerFilter: {alice.Email}}, nil, errdefs.ErrPermissionDenied},
		{"empty owner", admin, map[string][]string{containers.OwnerFilter: {""}}, nil, errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, _ := testService(t)
			byOwner := map[string]*containers.Container{}
			for _, p := range []identity.Principal{alice, bob, admin} {
				byOwner[p.Email] = mustCreate(t, s, p, "old", nil)
			}
			rep, err := s.Prune(context.Background(), tt.p, tt.filters)
			ids := rep.ContainersDeleted
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Prune = %v, %v; want %v", ids, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for owner, c := range byOwner {
				want := slices.Contains(tt.pruned, owner)
				if got := slices.Contains(ids, c.ID); got != want {
					t.Errorf("%s's container pruned = %v, want %v (pruned %v)", owner, got, want, ids)
				}
				audited := auditsOf(st, c.ID)
				if wantAudit := want && owner != tt.p.Email; (len(audited) == 1) != wantAudit {
					t.Errorf("%s's container: audit events %v, want one: %v", owner, audited, wantAudit)
				}
			}
		})
	}
}

func auditsOf(st *containerstest.Store, id string) []containers.Event {
	var out []containers.Event
	for _, e := range st.EventsOf(id) {
		if e.Action == containers.AdminAction {
			out = append(out, e)
		}
	}
	return out
}

// docker ps shows an admin everyone's containers, or the named owner's; a user may name only themselves.
func TestListOwnerFilter(t *testing.T) {
	s, _, _ := testService(t)
	for _, p := range []identity.Principal{alice, bob, admin} {
		mustCreate(t, s, p, "cc", nil)
	}
	tests := []struct {
		name   string
		p      identity.Principal
		owners []string
		want   []string
		err    error
	}{
		{"admin sees everyone's", admin, nil, []string{admin.Email, alice.Email, bob.Email}, nil},
		{"admin names one owner", admin, []string{bob.Email}, []string{bob.Email}, nil},
		{"user sees their own", alice, nil, []string{alice.Email}, nil},
		{"user names themselves", alice, []string{alice.Email}, []string{alice.Email}, nil},
		{"user names another", alice, []string{bob.Email}, nil, errdefs.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := containers.ListOptions{All: true}
			if tt.owners != nil {
				opts.Filters = map[string][]string{containers.OwnerFilter: tt.owners}
			}
			list, err := s.List(context.Background(), tt.p, opts)
			if tt.err != nil || err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("List = %v; want %v", err, tt.err)
				}
				return
			}
			var got []string
			for _, c := range list {
				got = append(got, c.Owner)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("owners listed = %v, want %v", got, tt.want)
			}
		})
	}
	// before/since name a container as Resolve does: another user's name is not the admin's.
	if _, err := s.List(context.Background(), admin, containers.ListOptions{Filters: map[string][]string{"before": {"cc"}}}); err != nil {
		t.Errorf("before=cc (the admin's own cc): %v", err)
	}
	mustCreate(t, s, alice, "only-alices", nil)
	if _, err := s.List(context.Background(), admin, containers.ListOptions{Filters: map[string][]string{"before": {"only-alices"}}}); !errdefs.IsNotFound(err) {
		t.Errorf("before=only-alices as the admin: %v, want not found", err)
	}
}

// Every change an admin makes to another user's container is an event of that container naming the admin and
// the action; the owner's own changes are not audited.
func TestAdminActionsAreAudited(t *testing.T) {
	ctx := context.Background()
	s, st, _ := testService(t)
	c := mustCreate(t, s, alice, "db", nil)
	steps := []struct {
		action string
		do     func(p identity.Principal, ref string) error
	}{
		{"start", func(p identity.Principal, ref string) error { return s.Start(ctx, p, ref) }},
		{"kill", func(p identity.Principal, ref string) error { return s.Kill(ctx, p, ref, "") }},
		{"restart", func(p identity.Principal, ref string) error { return s.Restart(ctx, p, ref, nil, "") }},
		{"stop", func(p identity.Principal, ref string) error { return s.Stop(ctx, p, ref, nil, "") }},
		{"rename", func(p identity.Principal, ref string) error { return s.Rename(ctx, p, ref, "db2") }},
		{"remove", func(p identity.Principal, ref string) error { return s.Remove(ctx, p, ref, true) }},
	}
	for _, step := range steps {
		if err := step.do(admin, c.ID); err != nil {
			t.Fatalf("admin %s %s: %v", step.action, c.ID, err)
		}
	}
	var got []string
	for _, e := range auditsOf(st, c.ID) {
		if e.Owner != alice.Email || e.Attributes[containers.AdminAttr] != admin.Email || e.Type != "container" {
			t.Errorf("audit event %+v: want alice's, naming the admin", e)
		}
		got = append(got, e.Attributes[containers.ActionAttr])
	}
	want := []string{"start", "kill", "restart", "stop", "rename", "remove"}
	if !slices.Equal(got, want) {
		t.Errorf("audited actions = %v, want %v", got, want)
	}

	own := mustCreate(t, s, alice, "mine", nil)
	if err := s.Start(ctx, alice, "mine"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, alice, "mine", true); err != nil {
		t.Fatal(err)
	}
	if a := auditsOf(st, own.ID); len(a) != 0 {
		t.Errorf("the owner's own actions were audited: %v", a)
	}
}
