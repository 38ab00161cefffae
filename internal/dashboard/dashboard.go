// Package dashboard is the admin server's live page, GET /debug/: breakers, rate
// limiters, retry budgets, bulkheads, shedders, discovery and readiness, read from the
// admin server's own JSON endpoints about once a second, and the same of peer admin
// servers (other services), which the admin server fetches for the page. Its assets
// are embedded (no CDN: it works offline, on an air-gapped cluster) and it only
// reads: it has no actions.
package dashboard

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// page is parsed once per Mount: the template is read-only afterwards.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="_/dashboard.css">
<script src="_/dashboard.js" defer></script>
</head>
<body data-sources="{{.Sources}}" data-health="{{.Health}}" data-peers="{{.Peers}}">
<header><h1>{{.Title}}</h1><span id="updated" class="muted">loading…</span></header>
<main id="sections"></main>
</body>
</html>
`

// Page is what Mount serves.
type Page struct {
	// Title names the service.
	Title string
	// Sources are the names of the admin server's GET /debug/<name> JSON handlers.
	Sources []string
	// Health says whether the admin server serves /readyz.
	Health bool
	// Peers are other admin servers the page shows, each in a section of its own.
	Peers []Peer
	// Client fetches the peers' state; required when there are peers.
	Client *http.Client
	// Timeout bounds fetching one peer's state, all its sources included.
	Timeout time.Duration
}

// Index is the JSON of GET /debug/_/index.json: what a peer's page would show, for
// another admin server to fetch.
type Index struct {
	Title   string   `json:"title"`
	Sources []string `json:"sources"`
	Health  bool     `json:"health"`
}

// Mount registers GET /debug/ (the page), GET /debug/_/ (its script and style), GET
// /debug/_/index.json (its sources, for the admin servers that list this one as a
// peer) and, with peers, GET /debug/_/peers/{name} on mux. The page's
// Content-Security-Policy allows only the admin server's own origin: the browser
// never talks to a peer.
func Mount(mux *http.ServeMux, p Page) error {
	t, err := template.New("page").Parse(page)
	if err != nil {
		return err
	}
	index := Index{Title: p.Title, Sources: slices.Sorted(slices.Values(p.Sources)), Health: p.Health}
	if index.Sources == nil {
		index.Sources = []string{}
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	var peerNames []string
	for _, peer := range p.Peers {
		peerNames = append(peerNames, peer.Name)
	}
	slices.Sort(peerNames)
	data := struct {
		Title, Sources, Peers string
		Health                bool
	}{p.Title, strings.Join(index.Sources, ","), strings.Join(peerNames, ","), p.Health}
	mux.HandleFunc("GET /debug/{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		secure(h)
		_ = t.Execute(w, data)
	})
	mux.HandleFunc("GET /debug/_/index.json", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		secure(h)
		_, _ = w.Write(indexJSON)
	})
	if len(p.Peers) > 0 {
		mux.Handle("GET /debug/_/peers/{name}", newPeers(p.Peers, p.Client, p.Timeout))
	}
	files := http.FileServerFS(assets)
	mux.Handle("GET /debug/_/", http.StripPrefix("/debug/_/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w.Header())
		r.URL.Path = "assets/" + r.URL.Path
		files.ServeHTTP(w, r)
	})))
	return nil
}

func secure(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
