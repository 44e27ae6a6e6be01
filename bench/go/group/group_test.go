// Go's side of crates/bench/benches/group.rs: spawning and awaiting
// trivial goroutines, in batches of 100,000, with sync.WaitGroup and with
// an errgroup-shaped group (first error + context cancel + SetLimit via a
// semaphore channel). golang.org/x/sync is not available offline here, so
// the group below follows errgroup's documented behaviour with the same
// primitives (WaitGroup, sync.Once, a buffered channel as the limit).
package group

import (
	"context"
	"sync"
	"testing"
)

const batch = 100_000

type group struct {
	cancel  func(error)
	wg      sync.WaitGroup
	sem     chan struct{}
	errOnce sync.Once
	err     error
}

func withContext(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) setLimit(n int) { g.sem = make(chan struct{}, n) }

func (g *group) spawn(f func() error) {
	if g.sem != nil {
		g.sem <- struct{}{}
	}
	g.wg.Add(1)
	go func() {
		defer func() {
			if g.sem != nil {
				<-g.sem
			}
			g.wg.Done()
		}()
		if err := f(); err != nil {
			g.errOnce.Do(func() {
				g.err = err
				if g.cancel != nil {
					g.cancel(err)
				}
			})
		}
	}()
}

func (g *group) wait() error {
	g.wg.Wait()
	if g.cancel != nil {
		g.cancel(g.err)
	}
	return g.err
}

func chunks(n int, f func(k int)) {
	for n > 0 {
		k := min(n, batch)
		f(k)
		n -= k
	}
}

func BenchmarkGoroutinesWaitGroup(b *testing.B) {
	chunks(b.N, func(k int) {
		var wg sync.WaitGroup
		wg.Add(k)
		for i := 0; i < k; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	})
}

func BenchmarkErrgroup(b *testing.B) {
	chunks(b.N, func(k int) {
		g, _ := withContext(context.Background())
		for i := 0; i < k; i++ {
			g.spawn(func() error { return nil })
		}
		_ = g.wait()
	})
}

func BenchmarkErrgroupLimit8(b *testing.B) {
	chunks(b.N, func(k int) {
		g, _ := withContext(context.Background())
		g.setLimit(8)
		for i := 0; i < k; i++ {
			g.spawn(func() error { return nil })
		}
		_ = g.wait()
	})
}
