package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// maxDocumentBytes bounds the discovery document and the key set read from the
// provider.
const maxDocumentBytes = 1 << 20

// keys holds the provider's current key set and refreshes it: periodically (Run)
// and on demand for an unknown key id, at most once per minInterval. It is safe
// for concurrent use.
type keys struct {
	client      *http.Client
	url         string
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger

	set atomic.Pointer[jwk.Set]
	// raw holds the set's public keys exported to their crypto types once per set,
	// so a verification does not rebuild them (for RSA, the modulus) from the JWK.
	raw atomic.Pointer[rawKeys]

	mu         sync.Mutex // serialises fetches
	lastDemand time.Time  // last refresh triggered by an unknown key id
}

// discover reads the jwks_uri of the issuer's OIDC discovery document.
func discover(ctx context.Context, c *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, err := get(ctx, c, u)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("%w: discovery %s: %w", ErrProvider, u, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("%w: discovery %s names issuer %q, want %q", ErrProvider, u, doc.Issuer, issuer)
	}
	if why := checkURL(doc.JWKSURI); why != "" {
		return "", fmt.Errorf("%w: discovery %s: jwks_uri %q: %s", ErrProvider, u, doc.JWKSURI, why)
	}
	return doc.JWKSURI, nil
}

func get(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrProvider, u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProvider, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %d", ErrProvider, u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %w", ErrProvider, u, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("%w: GET %s: body exceeds %d bytes", ErrProvider, u, maxDocumentBytes)
	}
	return body, nil
}

// fetch reads and installs the key set. The caller holds k.mu.
func (k *keys) fetch(ctx context.Context) error {
	body, err := get(ctx, k.client, k.url)
	if err != nil {
		return err
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return fmt.Errorf("%w: key set %s: %w", ErrProvider, k.url, err)
	}
	k.raw.Store(exportAll(&set))
	k.set.Store(&set)
	return nil
}

// rawKeys are the keys of one set (set) exported to their crypto types.
type rawKeys struct {
	set   *jwk.Set
	byKey map[jwk.Key]any
}

// exportAll exports every key of set; a key that does not export is left out (its
// JWK is used as it is).
func exportAll(set *jwk.Set) *rawKeys {
	rk := &rawKeys{set: set, byKey: map[jwk.Key]any{}}
	for i := range (*set).Len() {
		key, ok := (*set).Key(i)
		if !ok {
			continue
		}
		var raw any
		if err := jwk.Export(key, &raw); err == nil && raw != nil {
			rk.byKey[key] = raw
		}
	}
	return rk
}

// exported returns key, a key of the current set, as its crypto type, or key itself
// when it has none.
func (k *keys) exported(key jwk.Key) any {
	if rk := k.raw.Load(); rk != nil && rk.set == k.set.Load() {
		if raw, ok := rk.byKey[key]; ok {
			return raw
		}
	}
	return key
}

// current returns the cached key set.
func (k *keys) current() jwk.Set { return *k.set.Load() }

// lookup returns the key for kid, refreshing the set once when kid is unknown and
// no demand refresh happened within minInterval. Concurrent callers for unknown
// kids wait for the one refresh rather than each starting one.
func (k *keys) lookup(ctx context.Context, kid string) (jwk.Key, bool) {
	seen := k.set.Load()
	if key, ok := (*seen).LookupKeyID(kid); ok {
		return key, true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.set.Load(); now != seen { // refreshed while we waited
		if key, ok := (*now).LookupKeyID(kid); ok {
			return key, true
		}
	}
	t := k.now()
	if !k.lastDemand.IsZero() && t.Sub(k.lastDemand) < k.minInterval {
		return nil, false
	}
	k.lastDemand = t
	if err := k.fetch(ctx); err != nil {
		k.log.Warn("auth: key set refresh failed", "url", k.url, "error", err)
		return nil, false
	}
	k.log.Info("auth: key set refreshed for an unknown key id", "url", k.url)
	return k.current().LookupKeyID(kid)
}

// refresh re-reads the key set now (the periodic refresh).
func (k *keys) refresh(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetch(ctx)
}
