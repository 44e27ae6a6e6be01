// Go's side of the ctx benchmarks (crates/bench/benches/ctx.rs): the same
// operations, measured with the Go toolchain that bench/run installs.
package ctx

import (
	"context"
	"testing"
	"time"
)

var sink bool

func BenchmarkIsDone(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < b.N; i++ {
		sink = ctx.Err() != nil
	}
}

func BenchmarkWithCancelDrop(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < b.N; i++ {
		_, c := context.WithCancel(parent)
		c()
	}
}

func BenchmarkWithTimeoutCancel(b *testing.B) {
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < b.N; i++ {
		_, c := context.WithTimeout(parent, time.Hour)
		c()
	}
}

func buildTree(parent context.Context, n, fanout int) (int, []context.CancelFunc) {
	level := []context.Context{parent}
	var cancels []context.CancelFunc
	made := 0
	for made < n {
		var next []context.Context
		for _, p := range level {
			for j := 0; j < fanout && made < n; j++ {
				c, cancel := context.WithCancel(p)
				next = append(next, c)
				cancels = append(cancels, cancel)
				made++
			}
		}
		level = next
	}
	return made, cancels
}

func benchTree(b *testing.B, fanout int) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root, cancel := context.WithCancel(context.Background())
		_, cancels := buildTree(root, 100000, fanout)
		b.StartTimer()
		cancel()
		b.StopTimer()
		for _, c := range cancels {
			c()
		}
		b.StartTimer()
	}
}

func BenchmarkCancelTree100kFanout10(b *testing.B) { benchTree(b, 10) }
func BenchmarkCancelFlat100k(b *testing.B)         { benchTree(b, 100000) }
