package consul

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery/consul/consultest"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

const (
	// caRotationLoad is how long requests flow at least; the load goes on until
	// caRotationTail after the last rotation was observed, and never past caRotationMax.
	caRotationLoad = 12 * time.Second
	caRotationTail = time.Second
	caRotationMax  = 20 * time.Second
	// caRotations CA rotations happen caRotationFirst after the load starts, then
	// every caRotationEvery (or as soon as the previous one was observed, if later).
	caRotations     = 4
	caRotationFirst = 2 * time.Second
	caRotationEvery = 2500 * time.Millisecond
	// caObserveTimeout bounds the wait for both sources to hold a leaf of the new CA.
	caObserveTimeout = 5 * time.Second
	// caRotationRate is the request rate, of which one in caRotationFreshEvery opens
	// a new connection; the others share one client's kept-alive connections.
	caRotationRate       = 200
	caRotationFreshEvery = 10
	// caMinRenewals is how many renewals under the same CA each source must have
	// made during the test: evidence that the short leaf TTL is in force.
	caMinRenewals = 5
)

// leafLog is an http.RoundTripper under the sources' api client that records, for
// each source, the leaves it stored, in order. Run starts a leaf query only after
// storing what the previous one returned, so the leaf held when that query starts is
// the newest one; the test records the last one itself once Run has returned.
type leafLog struct {
	next    http.RoundTripper
	changed chan struct{} // a leaf query started

	mu   sync.Mutex
	srcs map[string]*CASource
	pos  map[string]map[string]int // service -> leaf DER -> position in seq
	seq  map[string][]*x509.Certificate
}

func newLeafLog(next http.RoundTripper) *leafLog {
	return &leafLog{next: next, changed: make(chan struct{}, 1), srcs: map[string]*CASource{},
		pos: map[string]map[string]int{}, seq: map[string][]*x509.Certificate{}}
}

func (l *leafLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if svc, ok := strings.CutPrefix(r.URL.Path, "/v1/agent/connect/ca/leaf/"); ok {
		l.record(svc)
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
	return l.next.RoundTrip(r)
}

// follow starts recording the leaves of src, the source of service.
func (l *leafLog) follow(service string, src *CASource) {
	l.mu.Lock()
	l.srcs[service] = src
	l.pos[service] = map[string]int{}
	l.mu.Unlock()
	l.record(service)
}

func (l *leafLog) record(service string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	src, ok := l.srcs[service]
	if !ok {
		return // NewCASource's own queries
	}
	leaf := leafOf(src)
	if _, seen := l.pos[service][string(leaf.Raw)]; !seen {
		l.pos[service][string(leaf.Raw)] = len(l.seq[service])
		l.seq[service] = append(l.seq[service], leaf)
	}
}

// position returns where leaf comes in the leaves service's source stored, or -1.
func (l *leafLog) position(service string, leaf *x509.Certificate) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pos[service][string(leaf.Raw)]; ok {
		return p
	}
	return -1
}

// latest returns the newest leaf of service's source.
func (l *leafLog) latest(service string) *x509.Certificate {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seq[service]
	return s[len(s)-1]
}

func (l *leafLog) leaves(service string) []*x509.Certificate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*x509.Certificate(nil), l.seq[service]...)
}

// leafOf returns the leaf certificate src holds.
func leafOf(src *CASource) *x509.Certificate {
	c, _ := src.Certificate()
	return c.Leaf
}

// keyID formats a key identifier (hex bytes joined by colons) for maps and messages.
func keyID(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

// caShown is a leaf one side presented on a new connection, with the leaf its source
// held, and the number of rotations both sources had observed, when the connection
// was made.
type caShown struct {
	side      string // whose leaf: "catalog" (seen by the client) or "cart" (by the server)
	held      *x509.Certificate
	presented *x509.Certificate
	gen       int64
}

type caConnKey struct{}

// caConnInfo is what the server knew when it accepted a connection, before its
// handshake.
type caConnInfo struct {
	gen  int64
	cart *x509.Certificate // the leaf the client's source held
}

// TestCASourceRotationUnderLoad runs a "catalog" server and a "cart" client on
// CASources of a real agent whose CA issues short-lived leaves, renewed many times
// a second, and rotates the CA (a new private key) four times while about 200
// requests a second flow: none may fail, every connection presents, in both
// directions, the leaf its source held when the connection was made or a later one,
// signed by a CA at least as new as the last rotation both sources had observed, and
// the kept-alive connections opened before the first rotation carry the load to the
// end.
func TestCASourceRotationUnderLoad(t *testing.T) {
	// A short leaf TTL. Consul 1.21 refuses a leaf_cert_ttl under 1h ("leaf cert TTL
	// must be greater or equal than 1h0m0s": CASetConfig fails, and from the agent's
	// hcl the CA fails to initialise) unless the undocumented SkipValidate is set.
	// Leaves are backdated by 1m, so a TTL under 1m gives expired leaves, and the
	// agent renews a leaf whose lifetime is under 10m on every blocking query, paced
	// by the CSR rate limit (csr_max_per_second, 50 by default): with 5m, leaves are
	// valid for 4m and renewed many times a second.
	agent := consultest.StartWith(t, consultest.Options{HCL: []string{
		`connect { ca_config { SkipValidate = true, leaf_cert_ttl = "5m" } }`,
	}})
	cfg := agent.Config()
	stored := newLeafLog(cfg.Transport)
	cfg.HttpClient = &http.Client{Transport: stored}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	server, client := caSource(t, c, "catalog"), caSource(t, c, "cart")
	stored.follow("catalog", server)
	stored.follow("cart", client)
	if leaf := leafOf(server); leaf.NotAfter.Sub(leaf.NotBefore) != 5*time.Minute {
		t.Fatalf("the agent issued a leaf valid %v to %v, want a 5m TTL", leaf.NotBefore, leaf.NotAfter)
	}

	// caGens maps the key of each CA root to its generation: 0 for the first.
	var caMu sync.Mutex
	caGens := map[string]int64{}
	activeKey := func() string {
		roots, _, err := c.Connect().CARoots(nil)
		if err != nil {
			t.Errorf("CARoots = %v", err)
			return ""
		}
		for _, r := range roots.Roots {
			if !r.Active {
				continue
			}
			block, _ := pem.Decode([]byte(r.RootCertPEM))
			if block == nil {
				break
			}
			root, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Errorf("the active root: %v", err)
				return ""
			}
			return keyID(root.SubjectKeyId) // the primary's Consul CA signs leaves with the root's key
		}
		t.Errorf("CARoots lists no active root: %+v", roots.Roots)
		return ""
	}
	first := activeKey()
	caGens[first] = 0
	for _, src := range []*CASource{server, client} {
		if got := keyID(leafOf(src).AuthorityKeyId); got != first {
			t.Fatalf("the first leaf is signed by key %s, want the active root's %s", got, first)
		}
	}
	caGen := func(leaf *x509.Certificate) (int64, bool) {
		caMu.Lock()
		defer caMu.Unlock()
		g, ok := caGens[keyID(leaf.AuthorityKeyId)]
		return g, ok
	}

	stops := []func() error{run(t, server.Run), run(t, client.Run)}
	var gen atomic.Int64 // rotations both sources have observed

	srv := httptest.NewUnstartedServer(nil)
	var mu sync.Mutex
	var shown []caShown
	var failures []string
	kept := map[*caConnInfo]bool{} // the kept-alive client's connections
	var keptAfterLast atomic.Int64 // kept-alive requests served after the last rotation
	show := func(s caShown) {
		mu.Lock()
		defer mu.Unlock()
		shown = append(shown, s)
	}
	fail := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, s)
		}
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci := r.Context().Value(caConnKey{}).(*caConnInfo)
		if r.Header.Get("Connection-Kind") == "fresh" {
			show(caShown{side: "cart", held: ci.cart, presented: r.TLS.PeerCertificates[0], gen: ci.gen})
			return
		}
		mu.Lock()
		kept[ci] = true
		mu.Unlock()
		if gen.Load() == caRotations {
			keptAfterLast.Add(1)
		}
	})
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, caConnKey{}, &caConnInfo{gen: gen.Load(), cart: leafOf(client)})
	}
	srv.TLS = identity.ServerConfig(server)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	kaTransport := identity.NewTransport(client, transport.ClientSettings{})
	defer kaTransport.CloseIdleConnections()
	kaClient := &http.Client{Transport: kaTransport, Timeout: 10 * time.Second}
	do := func(client *http.Client, kind string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(identity.WithService(context.Background(), "catalog"), http.MethodGet, srv.URL, nil)
		req.Header.Set("Connection-Kind", kind)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		return resp, err
	}
	warm, err := do(kaClient, "kept") // the kept-alive connection, before any rotation
	if err != nil {
		t.Fatalf("first request = %v, want 200", err)
	}
	t.Logf("kept-alive connection: %s", warm.Proto)

	// The rotations: each sets a new CA key and waits until both sources hold a leaf
	// it signed, then counts it in gen.
	start := time.Now()
	var lastObserved atomic.Int64 // since start, in ns
	rotated := make(chan struct{})
	go func() {
		defer close(rotated)
		for k := int64(1); k <= caRotations; k++ {
			wait := time.NewTimer(time.Until(start.Add(caRotationFirst + time.Duration(k-1)*caRotationEvery)))
			<-wait.C
			// A new key: Consul keeps the CA when the key type and size do not change
			// (the first one is EC P-256), so they alternate.
			conf := map[string]any{"LeafCertTTL": "5m", "SkipValidate": true,
				"PrivateKeyType": "ec", "PrivateKeyBits": []int{256, 384}[k%2]}
			at := time.Now()
			if _, err := c.Connect().CASetConfig(&api.CAConfig{Provider: "consul", Config: conf}, nil); err != nil {
				t.Errorf("rotation %d: CASetConfig = %v", k, err)
				return
			}
			key := activeKey()
			caMu.Lock()
			_, old := caGens[key]
			caGens[key] = k
			caMu.Unlock()
			if key == "" || old {
				t.Errorf("rotation %d: the active signing key is %q, want a new one", k, key)
				return
			}
			timeout := time.NewTimer(caObserveTimeout)
			for observed := false; !observed; {
				select {
				case <-stored.changed:
					observed = keyID(stored.latest("catalog").AuthorityKeyId) == key && keyID(stored.latest("cart").AuthorityKeyId) == key
				case <-timeout.C:
					t.Errorf("rotation %d: the sources hold leaves signed by %.11s… and %.11s… %v after it, want %.11s…",
						k, keyID(stored.latest("catalog").AuthorityKeyId), keyID(stored.latest("cart").AuthorityKeyId), caObserveTimeout, key)
					return
				}
			}
			timeout.Stop()
			gen.Store(k)
			lastObserved.Store(int64(time.Since(start)))
			t.Logf("rotation %d: both sources hold a leaf of the new CA %v after CASetConfig", k, time.Since(at).Round(time.Millisecond))
		}
	}()

	var failed, sent atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	tick := time.NewTicker(time.Second / caRotationRate)
	defer tick.Stop()
	done := false
	for n := 0; ; n++ {
		<-tick.C
		if !done {
			select {
			case <-rotated:
				done = true
			default:
			}
		}
		el := time.Since(start)
		if el > caRotationMax || done && el > caRotationLoad && el > time.Duration(lastObserved.Load())+caRotationTail {
			break
		}
		sem <- struct{}{}
		fresh := n%caRotationFreshEvery == 0
		wg.Go(func() {
			defer func() { <-sem }()
			g, held := gen.Load(), leafOf(server)
			sent.Add(1)
			cl, kind := kaClient, "kept"
			if fresh { // a Transport of its own: a new connection for sure
				tr := identity.NewTransport(client, transport.ClientSettings{})
				defer tr.CloseIdleConnections()
				cl, kind = &http.Client{Transport: tr, Timeout: 10 * time.Second}, "fresh"
			}
			resp, err := do(cl, kind)
			if err != nil {
				failed.Add(1)
				fail(fmt.Sprintf("%s request at %v: %v", kind, time.Since(start).Round(time.Millisecond), err))
				return
			}
			if fresh {
				show(caShown{side: "catalog", held: held, presented: resp.TLS.PeerCertificates[0], gen: g})
			}
		})
	}
	wg.Wait()
	<-rotated
	for _, stop := range stops {
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}
	stored.record("catalog") // the leaves stored after the last query started
	stored.record("cart")

	renewals := map[string]int{}
	for _, svc := range []string{"catalog", "cart"} {
		leaves := stored.leaves(svc)
		for i := 1; i < len(leaves); i++ {
			gp, _ := caGen(leaves[i-1])
			g, ok := caGen(leaves[i])
			switch {
			case !ok || g < gp:
				t.Errorf("%s's source stored a leaf of CA generation %d (known %v) after one of %d", svc, g, ok, gp)
			case g == gp:
				renewals[svc]++
			}
		}
	}
	t.Logf("%d requests, %d failed, %d rotations observed, %d new connections checked, %d kept-alive connections serving %d requests after the last rotation, leaf renewals under the same CA: %v",
		sent.Load(), failed.Load(), gen.Load(), len(shown), len(kept), keptAfterLast.Load(), renewals)
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed, want 0", failed.Load(), sent.Load())
	}
	for _, f := range failures {
		t.Error(f)
	}
	if gen.Load() != caRotations {
		t.Errorf("%d CA rotations observed by both sources, want %d", gen.Load(), caRotations)
	}
	for _, svc := range []string{"catalog", "cart"} {
		if renewals[svc] < caMinRenewals {
			t.Errorf("%s's source renewed its leaf %d times under the same CA, want at least %d (5m TTL)", svc, renewals[svc], caMinRenewals)
		}
	}

	// Each new connection is checked twice: the leaf against the one its source held,
	// and its CA against the rotations both sources had observed.
	var stale, oldCA []string
	for _, s := range shown {
		at := fmt.Sprintf("a new connection after %d rotations: %s presented", s.gen, s.side)
		hp, pp := stored.position(s.side, s.held), stored.position(s.side, s.presented)
		switch {
		case pp < 0:
			stale = append(stale, fmt.Sprintf("%s a leaf (serial %s) its source never held", at, s.presented.SerialNumber))
		case pp < hp:
			stale = append(stale, fmt.Sprintf("%s its source's leaf %d, older than leaf %d it held", at, pp, hp))
		}
		hg, _ := caGen(s.held)
		if pg, ok := caGen(s.presented); !ok || pg < max(hg, s.gen) {
			oldCA = append(oldCA, fmt.Sprintf("%s a leaf of CA generation %d (known: %v), want %d or later", at, pg, ok, max(hg, s.gen)))
		}
	}
	for _, v := range [][]string{stale, oldCA} {
		for i, m := range v {
			if i == 3 {
				t.Errorf("... %d such connections in all", len(v))
				break
			}
			t.Error(m)
		}
	}
	late := map[int64]int{} // rotations -> kept-alive connections opened after them
	for ci := range kept {
		if ci.gen != 0 {
			late[ci.gen]++
		}
	}
	if len(late) > 0 {
		t.Errorf("the kept-alive client opened connections after rotations (rotations: connections) %v, want its first connection kept", late)
	}
	if keptAfterLast.Load() == 0 {
		t.Errorf("the kept-alive client served no request after the last rotation")
	}
}
