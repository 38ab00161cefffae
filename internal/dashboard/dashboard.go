// Package dashboard is the admin server's live page, GET /debug/: breakers, rate
// limiters, retry budgets, bulkheads, shedders, discovery and readiness, read from the
// admin server's own JSON endpoints about once a second. Its assets are embedded (no
// CDN: it works offline, on an air-gapped cluster) and it only reads: it has no
// actions.
package dashboard

import (
	"embed"
	"html/template"
	"net/http"
	"slices"
	"strings"
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
<body data-sources="{{.Sources}}" data-health="{{.Health}}">
<header><h1>{{.Title}}</h1><span id="updated" class="muted">loading…</span></header>
<main id="sections"></main>
</body>
</html>
`

// Mount registers GET /debug/ (the page) and GET /debug/_/ (its script and style) on
// mux. sources are the names of the admin server's GET /debug/<name> JSON handlers;
// health says whether /readyz is served. The page's Content-Security-Policy allows
// only the admin server's own origin.
func Mount(mux *http.ServeMux, title string, sources []string, health bool) error {
	t, err := template.New("page").Parse(page)
	if err != nil {
		return err
	}
	names := slices.Sorted(slices.Values(sources))
	data := struct {
		Title, Sources string
		Health         bool
	}{title, strings.Join(names, ","), health}
	mux.HandleFunc("GET /debug/{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		secure(h)
		_ = t.Execute(w, data)
	})
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
