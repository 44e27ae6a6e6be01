// golang.org/x/sync/semaphore beside tether's Semaphore
// (crates/bench/benches/sync.rs): uncontended acquire+release, and two
// goroutines sharing one permit.
package semaphore

import (
	"context"
	"sync"
	"testing"

	"golang.org/x/sync/semaphore"
)

func BenchmarkSemaphoreUncontended(b *testing.B) {
	s := semaphore.NewWeighted(1)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		_ = s.Acquire(ctx, 1)
		s.Release(1)
	}
}

func BenchmarkSemaphoreTryUncontended(b *testing.B) {
	s := semaphore.NewWeighted(1)
	for i := 0; i < b.N; i++ {
		if s.TryAcquire(1) {
			s.Release(1)
		}
	}
}

// Two goroutines, one permit: ns per acquire+release per goroutine.
func BenchmarkSemaphoreContended2(b *testing.B) {
	s := semaphore.NewWeighted(1)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < b.N; i++ {
				_ = s.Acquire(ctx, 1)
				s.Release(1)
			}
			wg.Done()
		}()
	}
	wg.Wait()
}
