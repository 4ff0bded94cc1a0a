// Package e2e holds the end-to-end suites: the real docker CLI (and the Go SDK client) pointed at localproxy's socket,
// through the control plane, onto gcpsim and the emulators — the path a user's commands take. The stack is the one
// scripts/dev starts; scripts/test runs these tests with .dev/env sourced.
//
// Tests share the stack, so each uses unique names and cleans up after itself.
package e2e
