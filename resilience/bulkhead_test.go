package resilience

import (
	"context"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestBulkheadQueueAndTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBulkhead("db", BulkheadSettings{MaxConcurrent: 2, MaxQueue: 1, QueueTimeout: 50 * time.Millisecond}, nil, observability.Instrumentation{})
		release := make(chan struct{})
		h := b.Server()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		codes := make(chan int, 4)
		var wg sync.WaitGroup
		serve := func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			codes <- rec.Code
			if rec.Code == 503 && rec.Header().Get("Retry-After") != "1" {
				t.Errorf("503 without Retry-After: %v", rec.Header())
			}
		}
		for range 2 {
			wg.Go(serve)
		}
		synctest.Wait() // both slots taken
		wg.Go(serve)    // queued
		synctest.Wait()
		start := time.Now()
		serve() // queue full: rejected at once
		if got := <-codes; got != 503 || time.Since(start) != 0 {
			t.Fatalf("4th request = %d after %v, want 503 at once", got, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if got := <-codes; got != 503 {
			t.Fatalf("queued request after the queue timeout = %d, want 503", got)
		}
		close(release)
		wg.Wait()
		if a, b2 := <-codes, <-codes; a != 200 || b2 != 200 {
			t.Fatalf("admitted requests = %d, %d, want 200", a, b2)
		}
		if s := b.snapshot()[0]; s.Rejected != 2 || s.InFlight != 0 {
			t.Fatalf("Snapshot() = %+v, want 2 rejected, 0 in flight", s)
		}
	})
}

func TestBulkheadQueuedCallGetsFreedSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBulkhead("db", BulkheadSettings{MaxConcurrent: 1, QueueTimeout: time.Second}, nil, observability.Instrumentation{})
		release := make(chan struct{})
		go func() { _ = b.Do(context.Background(), "", func(context.Context) error { <-release; return nil }) }()
		synctest.Wait()
		done := make(chan error)
		go func() { done <- b.Do(context.Background(), "", func(context.Context) error { return nil }) }()
		time.Sleep(300 * time.Millisecond)
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("queued Do() = %v, want nil once the slot frees", err)
		}
		// Per-key compartments are independent.
		k := NewBulkhead("hosts", BulkheadSettings{MaxConcurrent: 1, MaxQueue: -1}, KeyByHost, observability.Instrumentation{})
		block := make(chan struct{})
		go func() { _ = k.Do(context.Background(), "a", func(context.Context) error { <-block; return nil }) }()
		synctest.Wait()
		if err := k.Do(context.Background(), "a", func(context.Context) error { return nil }); !errors.Is(err, ErrBulkheadFull) {
			t.Fatalf("Do(a) while a is busy = %v, want ErrBulkheadFull", err)
		}
		if err := k.Do(context.Background(), "b", func(context.Context) error { return nil }); err != nil {
			t.Fatalf("Do(b) = %v, want nil", err)
		}
		close(block)
	})
}
