package heappeak

import (
	"runtime/metrics"
	"sync"
	"time"
)

// Interval is how often Watch samples.
const Interval = 5 * time.Millisecond

// InUse is the bytes of heap objects in use now (live or not yet swept).
func InUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Watch samples InUse every Interval until the returned function is called; that function stops the sampling and
// returns the peak.
func Watch() (stop func() uint64) {
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			peak = max(peak, InUse())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, InUse())
	}
}
