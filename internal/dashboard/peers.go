package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Peer is another admin server: the name its section shows and its base URL, like
// http://payment:9090.
type Peer struct{ Name, URL string }

// maxBody bounds one JSON body read from a peer.
const maxBody = 1 << 20

// Snapshot is the JSON of GET /debug/_/peers/{name}: what the peer's own page shows,
// read just now. Error says why the peer's index could not be read (then nothing
// else is there); Errors why a source could not, by name ("readyz" for readiness).
type Snapshot struct {
	Name    string                     `json:"name"`
	URL     string                     `json:"url"`
	Title   string                     `json:"title,omitempty"`
	Sources []string                   `json:"sources,omitempty"`
	Data    map[string]json.RawMessage `json:"data,omitempty"`
	Readyz  json.RawMessage            `json:"readyz,omitempty"`
	Errors  map[string]string          `json:"errors,omitempty"`
	Error   string                     `json:"error,omitempty"`
}

// peers serves GET /debug/_/peers/{name}: it reads the peer's index, then its
// sources and readiness at once, all within timeout, and answers 200 with what it
// got and the errors, whatever the peer did. It is safe for concurrent use.
type peers struct {
	byName  map[string]Peer
	client  *http.Client
	timeout time.Duration
}

func newPeers(list []Peer, client *http.Client, timeout time.Duration) *peers {
	p := &peers{byName: map[string]Peer{}, client: client, timeout: timeout}
	for _, peer := range list {
		peer.URL = strings.TrimRight(peer.URL, "/")
		p.byName[peer.Name] = peer
	}
	return p
}

func (p *peers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	peer, ok := p.byName[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	snap := p.fetch(ctx, peer)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	secure(h)
	_ = json.NewEncoder(w).Encode(snap)
}

// fetch reads peer's state within ctx.
func (p *peers) fetch(ctx context.Context, peer Peer) Snapshot {
	s := Snapshot{Name: peer.Name, URL: peer.URL}
	var idx Index
	body, err := p.get(ctx, peer.URL+"/debug/_/index.json", false)
	if err == nil {
		err = json.Unmarshal(body, &idx)
	}
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Title = idx.Title
	var mu sync.Mutex
	var wg sync.WaitGroup
	record := func(name string, body []byte, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			if s.Errors == nil {
				s.Errors = map[string]string{}
			}
			s.Errors[name] = err.Error()
		case name == "readyz":
			s.Readyz = body
		default:
			if s.Data == nil {
				s.Data = map[string]json.RawMessage{}
			}
			s.Data[name] = body
		}
	}
	for _, src := range idx.Sources {
		if src == "" || src == "." || src == ".." || url.PathEscape(src) != src {
			continue // not a name NewAdmin allows
		}
		s.Sources = append(s.Sources, src)
		wg.Go(func() {
			body, err := p.get(ctx, peer.URL+"/debug/"+src, false)
			record(src, body, err)
		})
	}
	if idx.Health {
		wg.Go(func() {
			body, err := p.get(ctx, peer.URL+"/readyz", true)
			record("readyz", body, err)
		})
	}
	wg.Wait()
	return s
}

// get returns the JSON body of GET u: a 200, or with probe a 503 too (a probe's
// "not ready", which has the same body). The body is at most maxBody bytes.
func (p *peers) get(ctx context.Context, u string, probe bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("GET %s: no answer within %v", u, p.timeout)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && (!probe || resp.StatusCode != http.StatusServiceUnavailable) {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("GET %s: no answer within %v", u, p.timeout)
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", u, err)
	case len(body) > maxBody:
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", u, maxBody)
	case !json.Valid(body):
		return nil, fmt.Errorf("GET %s: not JSON", u)
	}
	return body, nil
}
