package heappeak

import "testing"

var sink [][]byte

// TestWatchSeesAPeak: 64 MiB held for a while and dropped shows in the peak, not in InUse afterwards.
func TestWatchSeesAPeak(t *testing.T) {
	before := InUse()
	stop := Watch()
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	held := InUse()
	sink = nil
	peak := stop()
	if peak < held || peak < before+60<<20 {
		t.Fatalf("peak %d MiB, want at least the %d MiB held (%d MiB before)", peak>>20, held>>20, before>>20)
	}
}
