// Package mainproc runs the container's main process (the user's entrypoint and cmd) under the agent: its stdout
// and stderr are teed to the agent's own (so Cloud Logging still has them) and into the output buffer; its stdin is
// /dev/null, or a pipe fed by attach sessions (OpenStdin), or a pseudo-terminal (Tty).
//
// Goroutines: one pump per output stream and one waiter, all ending once the process has exited and its output is
// drained (bounded by DrainGrace after the exit, so a background child holding the pipe cannot hold the agent).
package mainproc
