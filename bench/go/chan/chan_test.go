// Go's side of crates/bench/benches/chan.rs: the same shapes on goroutines
// (GOMAXPROCS defaults to the machine's 2 cores). One op = one message.
package chanbench

import (
	"sync"
	"testing"
)

// run moves b.N messages from p producers to c consumers through a channel
// of capacity capacity. Go has no unbounded channel; -1 approximates one
// with a buffer of b.N (at most 1<<20), so that a send (almost) never
// waits for room.
func run(b *testing.B, p, c, capacity int) {
	if capacity < 0 {
		capacity = min(b.N, 1<<20)
	}
	ch := make(chan uint64, capacity)
	per := (b.N + p - 1) / p
	var prod, cons sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < c; i++ {
		cons.Add(1)
		go func() {
			defer cons.Done()
			var sum uint64
			for v := range ch {
				sum += v
			}
			_ = sum
		}()
	}
	for i := 0; i < p; i++ {
		prod.Add(1)
		go func() {
			defer prod.Done()
			for v := 0; v < per; v++ {
				ch <- uint64(v)
			}
		}()
	}
	prod.Wait()
	close(ch)
	cons.Wait()
}

func BenchmarkThreads_spsc_cap0(b *testing.B)      { run(b, 1, 1, 0) }
func BenchmarkThreads_spsc_cap1(b *testing.B)      { run(b, 1, 1, 1) }
func BenchmarkThreads_spsc_cap1024(b *testing.B)   { run(b, 1, 1, 1024) }
func BenchmarkThreads_spsc_unbounded(b *testing.B) { run(b, 1, 1, -1) }
func BenchmarkThreads_mpsc_cap0(b *testing.B)      { run(b, 4, 1, 0) }
func BenchmarkThreads_mpsc_cap1(b *testing.B)      { run(b, 4, 1, 1) }
func BenchmarkThreads_mpsc_cap1024(b *testing.B)   { run(b, 4, 1, 1024) }
func BenchmarkThreads_mpsc_unbounded(b *testing.B) { run(b, 4, 1, -1) }
func BenchmarkThreads_mpmc_cap0(b *testing.B)      { run(b, 2, 2, 0) }
func BenchmarkThreads_mpmc_cap1(b *testing.B)      { run(b, 2, 2, 1) }
func BenchmarkThreads_mpmc_cap1024(b *testing.B)   { run(b, 2, 2, 1024) }
func BenchmarkThreads_mpmc_unbounded(b *testing.B) { run(b, 2, 2, -1) }

// BenchmarkSelect_recv4_cap1024: four producers, each on its own buffered
// channel; one consumer selects over the four receivers.
func BenchmarkSelect_recv4_cap1024(b *testing.B) {
	var cs [4]chan uint64
	for i := range cs {
		cs[i] = make(chan uint64, 1024)
	}
	per := (b.N + 3) / 4
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := range cs {
		wg.Add(1)
		go func(ch chan uint64) {
			defer wg.Done()
			for v := 0; v < per; v++ {
				ch <- uint64(v)
			}
		}(cs[i])
	}
	var sum uint64
	for n := 0; n < 4*per; n++ {
		select {
		case v := <-cs[0]:
			sum += v
		case v := <-cs[1]:
			sum += v
		case v := <-cs[2]:
			sum += v
		case v := <-cs[3]:
			sum += v
		}
	}
	_ = sum
	wg.Wait()
}
