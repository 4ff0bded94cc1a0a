// Package pid1 does what PID 1 of a container must: it starts processes through one Reaper that owns every wait
// (so the main process, exec'd processes and re-parented orphans are all reaped, without racing exec.Cmd.Wait),
// forwards the signals the agent receives to the main process (only those it would receive as PID 1), pauses and
// continues every process of the container, and turns a wait status into Docker's exit code (128+signal when
// killed).
//
// Goroutines: the Reaper runs one goroutine on SIGCHLD until Close; Forward runs one until its context ends.
// It imports nothing from runsock.
package pid1
