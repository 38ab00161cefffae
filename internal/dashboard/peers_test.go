package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzPeerIndex serves f's input as a peer's GET /debug/_/index.json: whatever the
// peer answers, the peer handler answers 200 with a JSON snapshot, and fetches
// nothing from the peer but its index, its readiness and GET /debug/<name> for a
// single path segment name.
func FuzzPeerIndex(f *testing.F) {
	for _, seed := range []string{
		`{"title":"payment","sources":["resilience","discovery"],"health":true}`,
		`{"sources":["../metrics","a/b","x?y","%2e%2e","..","."," ","ok"]}`,
		`{"sources":null}`, `[]`, `not json`, ``, `{"title":"<script>","health":"yes"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, index string) {
		var mu sync.Mutex
		var paths []string
		peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			paths = append(paths, r.URL.EscapedPath())
			mu.Unlock()
			if r.URL.Path == "/debug/_/index.json" {
				_, _ = w.Write([]byte(index))
				return
			}
			_, _ = w.Write([]byte(`{}`))
		}))
		defer peer.Close()
		h := newPeers([]Peer{{Name: "p", URL: peer.URL}}, peer.Client(), 5*time.Second)
		mux := http.NewServeMux()
		mux.Handle("GET /debug/_/peers/{name}", h)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/_/peers/p", nil))
		var snap Snapshot
		if err := json.Unmarshal(rec.Body.Bytes(), &snap); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("GET /debug/_/peers/p with index %q = %d %s (%v), want 200 and JSON", index, rec.Code, rec.Body, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range paths {
			name, ok := strings.CutPrefix(p, "/debug/")
			if p == "/readyz" || p == "/debug/_/index.json" || ok && name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/%?#") {
				continue
			}
			t.Errorf("with index %q the peer handler fetched %q from the peer", index, p)
		}
	})
}
