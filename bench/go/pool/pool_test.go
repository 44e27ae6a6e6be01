// Go's side of crates/bench/benches/pool.rs: the seed's worker pool,
// RunWorkerPool, verbatim (from the seed's "worker pool with context
// cancellation" example), fed end to end: a producer sends 100,000 tasks
// into a queue of 64, 8 workers run them (every 100th fails), the caller
// drains the errors until the channel closes.
package pool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

// Example: worker pool with context cancellation
type Task func(ctx context.Context) error

func RunWorkerPool(
	ctx context.Context, workers int, tasks <-chan Task,
) <-chan error {
	errs := make(chan error)
	var wg sync.WaitGroup
	wg.Add(workers)
	for i := 0; i < workers; i++ {
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case t, ok := <-tasks:
					if !ok {
						return
					}
					if err := t(ctx); err != nil {
						select {
						case errs <- err:
						case <-ctx.Done():
							return
						}
					}
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(errs)
	}()
	return errs
}

const batch = 100_000

var errFailed = errors.New("task failed")

func BenchmarkWorkerPool(b *testing.B) { workerPool(b) }

// The same on one P: no goroutine ever runs on another core.
func BenchmarkWorkerPoolOneProc(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	workerPool(b)
}

func workerPool(b *testing.B) {
	ok := func(ctx context.Context) error { return nil }
	fail := func(ctx context.Context) error { return errFailed }
	for n := b.N; n > 0; n -= batch {
		k := min(n, batch)
		tasks := make(chan Task, 64)
		errs := RunWorkerPool(context.Background(), 8, tasks)
		go func() {
			for i := 0; i < k; i++ {
				if i%100 == 99 {
					tasks <- fail
				} else {
					tasks <- ok
				}
			}
			close(tasks)
		}()
		failed := 0
		for range errs {
			failed++
		}
		if failed != k/100 {
			b.Fatalf("%d errors, want %d", failed, k/100)
		}
	}
}
