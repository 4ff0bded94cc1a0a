// Package images owns the images a user has pulled: resolving a reference in the registry with
// go-containerregistry (Docker Hub names go to the configured remote repository), recording digest, config, size
// and names per owner in Firestore (collection "images"), Docker's pull progress messages, and list, inspect, tag,
// delete and prune over those records. Image layers stay in the registry: a "pull" records, it never downloads.
//
// It imports containers only for the ImageResolver port types; it must not import the HTTP layer (dockerapi),
// whose ImageBackend the integrator adapts to Service. It starts no goroutines.
package images
