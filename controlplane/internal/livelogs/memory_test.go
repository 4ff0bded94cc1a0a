package livelogs

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/runsock/runsock/controlplane/internal/heappeak"
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
			base := heappeak.InUse()
			peak := heappeak.Watch()
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
