// Package heappeak measures the peak of this process's heap in use while something runs, for the memory
// benchmarks that show a reader's memory stays flat however long the history it reads (livelogs, logs).
//
// It imports nothing from runsock; Watch runs one sampling goroutine, ended by the function it returns.
package heappeak
