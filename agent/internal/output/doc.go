// Package output holds the main process's stdout and stderr as sequence-numbered chunks until the control plane
// acknowledges them as durable. A chunk is what one read of the process's output gave, with the time it was read:
// readers of the logs split it into lines and join the pieces of a line that spans reads. The buffer is bounded: when it is full, writers (the pumps reading the process's
// pipes) block, so the process's output is slowed down rather than dropped. After the process exits the buffer also
// carries the exit report, sent after the last chunk.
//
// It starts no goroutines and imports only linkproto from runsock.
package output
