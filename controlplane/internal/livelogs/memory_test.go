package livelogs

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkReadLiveHistory reads the whole live output of a container that printed 16 MiB and 128 MiB (1 KiB lines
// in batches of 512, as the agent's link writes them) through Chunks, as `docker logs` and a non-streaming attach
// do, and reports the peak of the heap in use while reading (peak-heap-MiB, sampled every 5 ms) over the baseline
// after a GC (base-heap-MiB). Memory is flat when the peak does not grow with the size. Needs the Firestore emulator
// (FIRESTORE_EMULATOR_HOST). Run: go test -run '^$' -bench ReadLiveHistory -benchtime 1x ./controlplane/internal/livelogs/
func BenchmarkReadLiveHistory(b *testing.B) {
	const line, perBatch = 1 << 10, 512
	for _, size := range []int{16 << 20, 128 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s := newTestStore(b)
			ctx := context.Background()
			id := "big"
			if _, err := s.BeginRun(ctx, id, "run-1"); err != nil {
				b.Fatal(err)
			}
			data := append(bytes.Repeat([]byte{'x'}, line-1), '\n')
			lines := size / line
			for seq := 1; seq <= lines; seq += perBatch {
				batch := make([]Chunk, 0, perBatch)
				for i := seq; i < seq+perBatch && i <= lines; i++ {
					batch = append(batch, Chunk{Stream: 1, Seq: uint64(i), Time: time.Now(), Data: data})
				}
				if _, err := s.Append(ctx, id, batch); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			base := heapInUse()
			peak := watchHeap()
			b.ResetTimer()
			var n int
			for range b.N {
				n = 0
				for c, err := range s.Chunks(ctx, id, 0) {
					if err != nil {
						b.Fatal(err)
					}
					n += len(c.Data)
				}
			}
			b.StopTimer()
			top := peak()
			if n != lines*line {
				b.Fatalf("read %d bytes, want %d", n, lines*line)
			}
			b.SetBytes(int64(n))
			b.ReportMetric(float64(top)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(base)/(1<<20), "base-heap-MiB")
		})
	}
}

func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchHeap samples the heap in use until the returned func is called, which returns the peak.
func watchHeap() func() uint64 {
	stop := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapInUse())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		return max(peak, heapInUse())
	}
}
