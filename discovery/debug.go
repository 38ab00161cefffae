package discovery

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"
)

// DebugService is one service in the /debug/discovery document.
type DebugService struct {
	Service   string          `json:"service"`
	Index     uint64          `json:"index"`
	Updated   time.Time       `json:"updated,omitzero"`
	Error     string          `json:"error,omitempty"`
	Stale     bool            `json:"stale"`
	Instances []Instance      `json:"instances"`
	Endpoints []EndpointState `json:"endpoints,omitempty"`
}

// DebugHandler returns an http.Handler that serves the state of discovery as JSON
// (for /debug/discovery): every service r tracks (if it implements Lister) or t has
// balanced, with its resolved instances, index, last update and last error, and,
// where t has a balancer for it, each endpoint's ejection and load state. t may be
// nil. The handler is safe for concurrent use.
func DebugHandler(r Resolver, t *Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		names := map[string]bool{}
		if l, ok := r.(Lister); ok {
			for _, n := range l.Services() {
				names[n] = true
			}
		}
		var bals map[string]*Balancer
		if t != nil {
			bals = *t.bals.Load()
			for n := range bals {
				names[n] = true
			}
		}
		doc := struct {
			Services []DebugService `json:"services"`
		}{Services: []DebugService{}}
		for _, n := range slices.Sorted(maps.Keys(names)) {
			f, err := r.Lookup(n)
			if err != nil {
				continue
			}
			s := f.Snapshot()
			d := DebugService{Service: n, Index: s.Index, Updated: s.Updated, Stale: s.Err != nil, Instances: s.Instances}
			if d.Instances == nil {
				d.Instances = []Instance{}
			}
			if s.Err != nil {
				d.Error = s.Err.Error()
			}
			if b, ok := bals[n]; ok {
				d.Endpoints = b.Endpoints()
			}
			doc.Services = append(doc.Services, d)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
	})
}
