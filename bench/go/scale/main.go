// Go's side of crates/bench/benches/scale.rs: the same shapes, one
// measurement per process (`scale <case> <n>`), printing `metric = value`
// lines with the same metric names. golang.org/x/sync is not available
// offline here, so the group is errgroup's documented behaviour built
// from sync.WaitGroup, sync.Once and context.WithCancelCause.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

type group struct {
	cancel  func(error)
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
}

func withContext(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) spawn(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.errOnce.Do(func() {
				g.err = err
				g.cancel(err)
			})
		}
	}()
}

func (g *group) wait() error {
	g.wg.Wait()
	g.cancel(g.err)
	return g.err
}

func per(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

func groupCase(n int) {
	parent, cancelParent := context.WithCancel(context.Background())
	g, ctx := withContext(parent)
	var started sync.WaitGroup
	started.Add(n)
	t := time.Now()
	for i := 0; i < n; i++ {
		g.spawn(func() error {
			started.Done()
			<-ctx.Done()
			return nil
		})
	}
	fmt.Printf("group spawn, N alive: ns per spawn = %f\n", per(time.Since(t), n))
	started.Wait()
	t = time.Now()
	cancelParent()
	_ = g.wait()
	fmt.Printf("group cancel → wait: ns per task = %f\n", per(time.Since(t), n))
}

func deadlines(n int) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancels := make([]context.CancelFunc, n)
	ctxs := make([]context.Context, n)
	t := time.Now()
	for i := 0; i < n; i++ {
		ctxs[i], cancels[i] = context.WithTimeout(parent, time.Hour)
	}
	fmt.Printf("deadlines created (with_timeout, N alive): ns each = %f\n", per(time.Since(t), n))
	t = time.Now()
	for _, c := range cancels {
		c()
	}
	fmt.Printf("deadlines cancelled (N alive): ns each = %f\n", per(time.Since(t), n))
}

func firing(n int) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	lead := 200*time.Millisecond + time.Duration(n)*3*time.Microsecond
	spread := time.Second
	start := time.Now()
	base := start.Add(lead)
	at := func(i int) time.Time { return base.Add(time.Duration(float64(spread) * float64(i) / float64(n))) }
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := 0; i < n; i++ {
		ctxs[i], cancels[i] = context.WithDeadline(parent, at(i))
	}
	created := time.Since(start)
	fmt.Printf("deadlines firing: ns per creation = %f\n", per(created, n))
	if created >= lead {
		fmt.Fprintln(os.Stderr, "creation overran the lead")
		os.Exit(1)
	}
	last := at(n - 1)
	<-ctxs[n-1].Done()
	fmt.Printf("deadlines firing: ms the last one is late = %f\n", float64(time.Since(last).Nanoseconds())/1e6)
	for _, c := range ctxs {
		<-c.Done()
	}
	fmt.Printf("deadlines firing: ms until all are done = %f\n", float64(time.Since(last).Nanoseconds())/1e6)
	for _, c := range cancels {
		c()
	}
}

func closeCase(n int) {
	ch := make(chan uint32)
	var parked, done sync.WaitGroup
	parked.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			if _, ok := <-ch; ok {
				panic("a value on a closed channel")
			}
			done.Done()
		}()
	}
	parked.Wait()
	time.Sleep(10 * time.Millisecond) // the last ones reach the receive
	t := time.Now()
	close(ch)
	done.Wait()
	fmt.Printf("receivers woken by close: ns per receiver = %f\n", per(time.Since(t), n))
}

type key struct{}
type other struct{ i int }

func values(n int) {
	ctx := context.WithValue(context.Background(), key{}, 7)
	for i := 1; i < n; i++ {
		ctx = context.WithValue(ctx, other{i}, i)
	}
	rounds := 20_000_000 / n
	if rounds < 3 {
		rounds = 3
	}
	t := time.Now()
	for r := 0; r < rounds; r++ {
		if ctx.Value(key{}) == nil {
			panic("lost the value")
		}
	}
	fmt.Printf("ctx.value per link of the chain: ns = %f\n", float64(time.Since(t).Nanoseconds())/float64(rounds*n))
}

func main() {
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		panic(err)
	}
	switch os.Args[1] {
	case "group":
		groupCase(n)
	case "group-unregistered":
		// Go has no registry: the same as "group".
	case "deadlines":
		deadlines(n)
	case "firing":
		firing(n)
	case "close":
		closeCase(n)
	case "values":
		values(n)
	default:
		panic("unknown case " + os.Args[1])
	}
}
