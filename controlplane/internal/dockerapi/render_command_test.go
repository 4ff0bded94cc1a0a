package dockerapi

import "testing"

// The list's Command quotes each argument that holds a space, as Docker's does (compose ps and docker ps show it).
func TestListCommandQuotesAsDocker(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{nil, ""},
		{[]string{"sleep"}, "sleep"},
		{[]string{"sleep", "600"}, "sleep 600"},
		// What the reference engine answers for `run alpine sh -c "sleep 30; echo 'a b'"`.
		{[]string{"sh", "-c", "sleep 30; echo 'a b'"}, "sh -c 'sleep 30; echo 'a b''"},
		{[]string{"/bin/my prog", "x"}, "/bin/my prog x"}, // the path is never quoted
	} {
		if got := listCommand(tc.argv); got != tc.want {
			t.Errorf("listCommand(%q) = %q, want %q", tc.argv, got, tc.want)
		}
	}
}
