// Package houserules holds the rules of the house that a compiler does not check, as tests over the module's import
// graph (`go list -deps`): which deployable may import what. It has no code of its own; a rule added here is one a
// package's doc.go promises.
package houserules
