// Go's side of the sync benchmarks (crates/bench/benches/sync.rs):
// atomic.Value / atomic.Pointer loads (alone, beside a writer, two
// readers) and sync.Cond ping-pong with Signal and with Broadcast.
// The x/sync semaphore benchmarks live in ./semaphore (own module).
package sync

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

type config struct{ n [4]int }

var sink *config

func BenchmarkValueLoad(b *testing.B) {
	var v atomic.Value
	v.Store(&config{})
	for i := 0; i < b.N; i++ {
		sink = v.Load().(*config)
	}
}

func BenchmarkPointerLoad(b *testing.B) {
	var p atomic.Pointer[config]
	p.Store(&config{})
	for i := 0; i < b.N; i++ {
		sink = p.Load()
	}
}

// One reader measured while another goroutine keeps storing new values.
func BenchmarkPointerLoadWithWriter(b *testing.B) {
	var p atomic.Pointer[config]
	p.Store(&config{})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		for !stop.Load() {
			p.Store(&config{})
		}
		close(done)
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sink = p.Load()
	}
	b.StopTimer()
	stop.Store(true)
	<-done
}

// Two goroutines loading at once; ns per load per goroutine.
func BenchmarkPointerLoad2Readers(b *testing.B) {
	var p atomic.Pointer[config]
	p.Store(&config{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		var local *config
		for i := 0; i < b.N; i++ {
			local = p.Load()
		}
		runtime.KeepAlive(local)
		wg.Done()
	}()
	for i := 0; i < b.N; i++ {
		sink = p.Load()
	}
	wg.Wait()
}

// Two goroutines take turns through one Cond; ns per round trip.
func condPingPong(b *testing.B, broadcast bool) {
	var mu sync.Mutex
	c := sync.NewCond(&mu)
	turn := 0
	done := make(chan struct{})
	go func() {
		mu.Lock()
		for i := 0; i < b.N; i++ {
			for turn != 1 {
				c.Wait()
			}
			turn = 0
			if broadcast {
				c.Broadcast()
			} else {
				c.Signal()
			}
		}
		mu.Unlock()
		close(done)
	}()
	mu.Lock()
	for i := 0; i < b.N; i++ {
		turn = 1
		if broadcast {
			c.Broadcast()
		} else {
			c.Signal()
		}
		for turn != 0 {
			c.Wait()
		}
	}
	mu.Unlock()
	<-done
}

func BenchmarkCondPingPongSignal(b *testing.B)    { condPingPong(b, false) }
func BenchmarkCondPingPongBroadcast(b *testing.B) { condPingPong(b, true) }
