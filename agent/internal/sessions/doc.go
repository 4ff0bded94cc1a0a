// Package sessions serves the control plane's sessions inside the container, one link stream each: exec (pipes or
// a real pseudo-terminal, resize, signals, exit code), attach (input to the main process), archive get/put/stat,
// signal, top and stats.
//
// Goroutines: each Serve call runs a receiver for the stream and, for exec, one pump per output stream; all end
// before Serve returns, except an exec'd process itself, which outlives a broken stream as in Docker (its stdin is
// closed).
package sessions
