package iam

import "testing"

var testService = Service{
	Roles:      map[string][]string{"roles/svc.reader": {"svc.get"}, "roles/svc.writer": {"svc.get", "svc.put"}},
	RolePrefix: "roles/svc.", Resource: "THING", AllResources: "*",
}

func TestAllowed(t *testing.T) {
	bindings := []Binding{
		{Resource: "a", Role: "roles/svc.writer", Member: "serviceAccount:W@p.iam.gserviceaccount.com"},
		{Resource: "*", Role: "roles/svc.reader", Member: "user:r@example.com"},
		{Resource: "pub", Role: "roles/svc.reader", Member: "allUsers"},
		{Resource: "auth", Role: "roles/svc.reader", Member: "allAuthenticatedUsers"},
	}
	tests := []struct {
		name, resource, email, perm string
		want                        bool
	}{
		{"a writer writes", "a", "w@p.iam.gserviceaccount.com", "svc.put", true},
		{"on its resource only", "b", "w@p.iam.gserviceaccount.com", "svc.put", false},
		{"a project-level reader reads anything", "b", "r@example.com", "svc.get", true},
		{"but does not write", "b", "r@example.com", "svc.put", false},
		{"allUsers: even anonymous", "pub", "", "svc.get", true},
		{"allAuthenticatedUsers: not anonymous", "auth", "", "svc.get", false},
		{"allAuthenticatedUsers: anyone signed in", "auth", "x@y.z", "svc.get", true},
		{"anonymous holds nothing else", "a", "", "svc.get", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testService.Allowed(bindings, tt.resource, tt.email, tt.perm); got != tt.want {
				t.Errorf("Allowed(%q, %q, %q) = %v, want %v", tt.resource, tt.email, tt.perm, got, tt.want)
			}
		})
	}
	noWildcard := testService
	noWildcard.AllResources = ""
	if noWildcard.Allowed(bindings, "b", "r@example.com", "svc.get") {
		t.Error(`a service without project-level grants took "*" for every resource`)
	}
}

func TestParseBinding(t *testing.T) {
	got, err := testService.ParseBinding("a:writer=user:a@x,serviceAccount:b@y")
	if err != nil || len(got) != 2 || got[0] != (Binding{Resource: "a", Role: "roles/svc.writer", Member: "user:a@x"}) || got[1].Member != "serviceAccount:b@y" {
		t.Fatalf("ParseBinding = %+v, %v", got, err)
	}
	for _, bad := range []string{"a", "a:writer", ":writer=user:a@x", "a:owner=user:a@x", "a:reader=group:g@x", "a:reader=user:nobody"} {
		if _, err := testService.ParseBinding(bad); err == nil {
			t.Errorf("ParseBinding(%q) accepted", bad)
		}
	}
}
