package auth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// flood verifies n tokens with random unknown kids from 32 goroutines and returns
// how many were accepted.
func flood(v *Verifier, p *provider, n int) int64 {
	var accepted atomic.Int64
	var wg sync.WaitGroup
	per := n / 32
	for range 32 {
		wg.Go(func() {
			for range per {
				kid := fmt.Sprintf("forged-%d", rand.Uint64())
				tok := handMade(map[string]any{"alg": "ES256", "kid": kid}, p.claims(), make([]byte, 64))
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return accepted.Load()
}

func TestUnknownKidFloodRefreshesOncePerInterval(t *testing.T) {
	p := newProvider(t, newEC(t, "ec-1"))
	clock := &fakeClock{t: time.Now()}
	s := p.settings()
	s.MinRefreshInterval = 10 * time.Second
	v := p.verifier(t, s, clock.now)
	if got := p.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetches after start = %d, want 1", got)
	}
	steps := []struct {
		advance time.Duration
		want    int64 // JWKS fetches in all after the flood
	}{
		{0, 2},                                  // the first unknown kid refreshes once
		{s.MinRefreshInterval - time.Second, 2}, // still within the interval
		{time.Second, 3},                        // the interval has passed: one more
		{0, 3},
		{time.Hour, 4},
	}
	for i, st := range steps {
		clock.advance(st.advance)
		if n := flood(v, p, 1024); n != 0 {
			t.Errorf("step %d: %d forged tokens did not fail with ErrUnknownKey", i, n)
		}
		if got := p.hits.Load(); got != st.want {
			t.Errorf("step %d (after +%v): JWKS fetches = %d, want %d", i, st.advance, got, st.want)
		}
	}
}

func TestKeyRotationUnderLoad(t *testing.T) {
	oldKey, newKey := newRSA(t, "2026-old"), newEC(t, "2026-new")
	p := newProvider(t, oldKey)
	v := p.verifier(t, p.settings(), nil) // real clock, default 10s min interval
	oldTok, newTok := oldKey.sign(t, p.claims()), newKey.sign(t, p.claims())

	// load verifies tok from 16 goroutines, 200 times each, and returns the failures.
	load := func(tok string) int64 {
		var failed atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 200 {
					if _, err := v.Verify(context.Background(), tok); err != nil {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return failed.Load()
	}
	both := func() (oldFailed, newFailed int64) {
		var wg sync.WaitGroup
		wg.Go(func() { oldFailed = load(oldTok) })
		wg.Go(func() { newFailed = load(newTok) })
		wg.Wait()
		return
	}

	if n := load(oldTok); n != 0 {
		t.Fatalf("before rotation: %d old-key tokens failed, want 0", n)
	}
	p.publish(oldKey, newKey) // the provider adds the new key and signs with it
	if o, n := both(); o != 0 || n != 0 {
		t.Errorf("new key published: %d old-key and %d new-key tokens failed, want 0 and 0", o, n)
	}
	if got := p.hits.Load(); got != 2 {
		t.Errorf("JWKS fetches after the new key appeared = %d, want 2 (start, one refresh)", got)
	}
	p.publish(newKey) // the old key is removed, seen by the next periodic refresh
	if err := v.keys.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := load(newTok); n != 0 {
		t.Errorf("old key removed: %d new-key tokens failed, want 0", n)
	}
	if _, err := v.Verify(context.Background(), oldTok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify(old-key token after removal) = %v, want ErrUnknownKey", err)
	}
}

// memoryTransport serves requests with h in process, so that synctest's clock can
// run the periodic refresh (a loopback socket is not durably blocking).
type memoryTransport struct{ h http.Handler }

func (m memoryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestRunRefreshesPeriodically(t *testing.T) {
	oldKey, newKey := newRSA(t, "old"), newRSA(t, "new")
	p := newProvider(t, oldKey)
	synctest.Test(t, func(t *testing.T) {
		newTok := newKey.sign(t, p.claims()) // times from the bubble's clock
		client := &http.Client{Transport: memoryTransport{p.srv.Config.Handler}}
		s := p.settings()
		s.MinRefreshInterval = 24 * time.Hour
		v, err := NewVerifier(t.Context(), s, client)
		if err != nil {
			t.Fatal(err)
		}
		// Spend the one demand refresh, so only Run can fetch the new key.
		if _, err := v.Verify(t.Context(), newTok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Verify(unpublished key) = %v, want ErrUnknownKey", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- v.Run(ctx) }()
		p.publish(oldKey, newKey)

		time.Sleep(defaultRefreshInterval - time.Nanosecond)
		synctest.Wait()
		if got := p.hits.Load(); got != 2 {
			t.Errorf("JWKS fetches just before 15m = %d, want 2", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := p.hits.Load(); got != 3 {
			t.Errorf("JWKS fetches at 15m = %d, want 3", got)
		}
		if _, err := v.Verify(t.Context(), newTok); err != nil {
			t.Errorf("Verify(new key after the periodic refresh) = %v", err)
		}
		// A failing refresh keeps the last good set.
		p.setFailing(true)
		time.Sleep(defaultRefreshInterval)
		synctest.Wait()
		if got := p.hits.Load(); got != 4 {
			t.Errorf("JWKS fetches at 30m = %d, want 4", got)
		}
		if _, err := v.Verify(t.Context(), newTok); err != nil {
			t.Errorf("Verify after a failed refresh = %v, want the cached key to still work", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}
