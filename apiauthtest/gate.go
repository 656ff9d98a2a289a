package apiauthtest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Gate is a store as slow as a concurrency test needs, with no timing in
// it: a store wrapper calls Hold in each look-up, and Gate holds the
// look-ups made for requests that Burst sends until Burst releases them,
// counting them. With it a test can put many requests in flight at once
// and count exactly how many reached the store, as the failure limit's
// tests do.
type Gate struct {
	lookups atomic.Int64
	entered chan struct{} // one value per look-up held
	release chan struct{}
	once    sync.Once
}

// heldKey marks the context of a request whose look-up a Gate holds.
type heldKey struct{}

// NewGate returns a closed Gate.
func NewGate() *Gate {
	return &Gate{entered: make(chan struct{}, 4096), release: make(chan struct{})}
}

// Hold counts and holds a look-up made for a request Burst sent, until
// Burst releases it; other look-ups pass at once.
func (g *Gate) Hold(ctx context.Context) {
	if ctx.Value(heldKey{}) == nil {
		return
	}
	g.lookups.Add(1)
	g.entered <- struct{}{}
	<-g.release
}

// Lookups reports how many look-ups Hold has held.
func (g *Gate) Lookups() int64 { return g.lookups.Load() }

func (g *Gate) open() { g.once.Do(func() { close(g.release) }) }

// Burst sends n requests at once with send, whose ctx marks their look-ups
// for Hold, and waits until every one has been answered or is held at the
// store; then it runs during (requests of its own pass the gate), releases
// the look-ups held, and returns how many answers had each status. It fails
// t if after a minute some request is neither answered nor held.
func (g *Gate) Burst(t testing.TB, n int, send func(ctx context.Context, i int) int, during func()) map[int]int {
	t.Helper()
	defer g.open()
	ctx := context.WithValue(context.Background(), heldKey{}, true)
	done := make(chan int, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			done <- send(ctx, i)
		}()
	}
	close(start)
	counts := map[int]int{}
	answered := 0
	failsafe := time.After(time.Minute)
	for seen := 0; seen < n; seen++ {
		select {
		case <-g.entered:
		case s := <-done:
			counts[s]++
			answered++
		case <-failsafe:
			t.Fatalf("apiauthtest: after a minute, %d of %d requests neither answered nor held at the store", n-seen, n)
		}
	}
	during()
	g.open()
	for ; answered < n; answered++ {
		counts[<-done]++
	}
	return counts
}
