package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestCacheNeverOutlivesTheToken: a token answered from the cache is refused once it
// expires (exp plus the leeway), as the signature check would refuse it.
func TestCacheNeverOutlivesTheToken(t *testing.T) {
	ec := newEC(t, "ec-1")
	p := newProvider(t, ec)
	clock := &fakeClock{t: time.Now()}
	v := p.verifier(t, p.settings(), clock.now)
	tok := ec.sign(t, p.claims(func(c map[string]any) { c["exp"] = clock.now().Add(time.Minute).Unix() }))
	for range 2 { // verified, then from the cache
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("Verify(fresh token) = %v", err)
		}
	}
	if _, ok := v.cache.get(hashOf(tok)); !ok {
		t.Fatal("a verified token is not in the cache")
	}
	clock.advance(time.Minute + 31*time.Second) // past exp + the 30s leeway
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify(cached token past exp+leeway) = %v, want ErrExpired", err)
	}
}

// TestCacheForgetsOnKeySetChange: once the provider stops publishing the key a
// cached token was signed with, the token is refused after the next refresh, as a
// fresh one would be.
func TestCacheForgetsOnKeySetChange(t *testing.T) {
	old, next := newEC(t, "ec-old"), newEC(t, "ec-new")
	p := newProvider(t, old)
	v := p.verifier(t, p.settings(), time.Now)
	tok := old.sign(t, p.claims())
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	p.publish(next) // the old key is withdrawn (compromised, say)
	if err := v.keys.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify(cached token of a withdrawn key) = %v, want ErrUnknownKey", err)
	}
}

// TestCacheIsBounded: however many distinct valid tokens arrive, the cache holds at
// most CacheSize; a negative size keeps nothing.
func TestCacheIsBounded(t *testing.T) {
	ec := newEC(t, "ec-1")
	p := newProvider(t, ec)
	for _, size := range []int{3, -1} {
		s := p.settings()
		s.CacheSize = size
		v := p.verifier(t, s, time.Now)
		for i := range 10 {
			tok := ec.sign(t, p.claims(func(c map[string]any) { c["sub"] = fmt.Sprint("user-", i) }))
			got, err := v.Verify(context.Background(), tok)
			if err != nil || got.Subject != fmt.Sprint("user-", i) {
				t.Fatalf("Verify(user-%d) = %v, %v", i, got.Subject, err)
			}
		}
		if n := len(v.cache.m); (size > 0 && n > size) || (size < 0 && n != 0) {
			t.Errorf("CacheSize %d: %d tokens cached after 10", size, n)
		}
	}
}

func hashOf(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }
