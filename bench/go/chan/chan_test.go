// Go's side of crates/bench/benches/chan/: the same shapes on goroutines
// (GOMAXPROCS defaults to the machine's 2 cores; the pinned cases set it to
// 1). One op = one message (or one select). Every benchmark also reports
// heap allocations per op as "allocs/msg": runtime.MemStats.Mallocs over the
// whole benchmark function (setup included) divided by b.N.
package chanbench

import (
	"reflect"
	"runtime"
	"sync"
	"testing"
)

// countAllocs starts counting heap allocations; the function it returns
// stops the timer and reports them per op.
func countAllocs(b *testing.B) func() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	start := m.Mallocs
	return func() {
		b.StopTimer()
		runtime.ReadMemStats(&m)
		b.ReportMetric(float64(m.Mallocs-start)/float64(b.N), "allocs/msg")
	}
}

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
	done := countAllocs(b)
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
	done()
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

// 4 producers and 4 consumers on the 2 cores.
func BenchmarkThreads_mpmc4x4_cap0(b *testing.B)      { run(b, 4, 4, 0) }
func BenchmarkThreads_mpmc4x4_cap1(b *testing.B)      { run(b, 4, 4, 1) }
func BenchmarkThreads_mpmc4x4_cap1024(b *testing.B)   { run(b, 4, 4, 1024) }
func BenchmarkThreads_mpmc4x4_unbounded(b *testing.B) { run(b, 4, 4, -1) }

// The pinned cases: Rust pins producer and consumer threads to one CPU; Go's
// counterpart gives the scheduler one P (GOMAXPROCS=1) for the benchmark's
// duration, so both goroutines take turns on one OS thread.
func onOneP(b *testing.B, f func(*testing.B)) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f(b)
}

func BenchmarkThreads_pinned_spsc_cap0(b *testing.B) {
	onOneP(b, func(b *testing.B) { run(b, 1, 1, 0) })
}
func BenchmarkThreads_pinned_spsc_cap1024(b *testing.B) {
	onOneP(b, func(b *testing.B) { run(b, 1, 1, 1024) })
}

// BenchmarkSelect_recv4_cap1024: four producers, each on its own buffered
// channel; one consumer selects over the four receivers.
func BenchmarkSelect_recv4_cap1024(b *testing.B) {
	var cs [4]chan uint64
	for i := range cs {
		cs[i] = make(chan uint64, 1024)
	}
	per := (b.N + 3) / 4
	var wg sync.WaitGroup
	done := countAllocs(b)
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
	done()
}

// BenchmarkSelect_dyn_recv64_one_ready: reflect.Select over 64 receive cases
// of which one (the last) holds values; one op = one select. Only the selects
// are timed: the ready channel (capacity 1024) is refilled with the timer
// stopped.
func BenchmarkSelect_dyn_recv64_one_ready(b *testing.B) {
	const arms, chunk = 64, 1024
	chs := make([]chan uint64, arms)
	cases := make([]reflect.SelectCase, arms)
	for i := range chs {
		chs[i] = make(chan uint64, chunk)
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(chs[i])}
	}
	ready := chs[arms-1]
	var sum uint64
	done := countAllocs(b)
	b.ResetTimer()
	for left := b.N; left > 0; {
		k := min(left, chunk)
		b.StopTimer()
		for v := 0; v < k; v++ {
			ready <- uint64(v)
		}
		b.StartTimer()
		for j := 0; j < k; j++ {
			_, v, _ := reflect.Select(cases)
			sum += v.Uint()
		}
		left -= k
	}
	done()
	_ = sum
}

// BenchmarkSelect_dyn_fanin256_cap16: 256 channels of capacity 16; 4
// producers, each sending round-robin over its own 64 channels, then closing
// them; one consumer on one reused reflect.Select over all 256 removes each
// case as its channel closes. One op = one message.
func BenchmarkSelect_dyn_fanin256_cap16(b *testing.B) {
	const nch, capacity, producers = 256, 16, 4
	chs := make([]chan uint64, nch)
	cases := make([]reflect.SelectCase, nch)
	for i := range chs {
		chs[i] = make(chan uint64, capacity)
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(chs[i])}
	}
	per := (b.N + producers - 1) / producers
	done := countAllocs(b)
	b.ResetTimer()
	for j := 0; j < producers; j++ {
		go func(own []chan uint64) {
			for v := 0; v < per; v++ {
				own[v%len(own)] <- uint64(v)
			}
			for _, ch := range own {
				close(ch)
			}
		}(chs[j*nch/producers : (j+1)*nch/producers])
	}
	var sum uint64
	for open := nch; open > 0; {
		i, v, ok := reflect.Select(cases)
		if !ok {
			cases[i].Chan = reflect.Value{}
			open--
			continue
		}
		sum += v.Uint()
	}
	done()
	_ = sum
}
