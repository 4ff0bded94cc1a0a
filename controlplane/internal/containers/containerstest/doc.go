// Package containerstest holds in-memory fakes of what the containers Service needs — its Store, a Launcher and an
// ImageResolver — so lifecycle rules and the HTTP layer run in unit tests in milliseconds, without the Firestore
// emulator or gcpsim. Only tests import it. It runs no goroutines.
package containerstest
