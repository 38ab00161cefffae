package health

import (
	"encoding/json"
	"net/http"
	"time"
)

type jsonCheck struct {
	Name        string `json:"name"`
	Status      Status `json:"status"`
	Critical    bool   `json:"critical"`
	Error       string `json:"error,omitempty"`
	Duration    string `json:"duration,omitempty"`
	LastChecked string `json:"last_checked,omitempty"`
}

type jsonReport struct {
	Status            Status      `json:"status"`
	Draining          bool        `json:"draining,omitempty"`
	WaitingForStartup bool        `json:"waiting_for_startup,omitempty"`
	Checks            []jsonCheck `json:"checks"`
}

func (r *Registry) encodeLocked(role Role, ok, draining, started bool) []byte {
	rep := jsonReport{Status: StatusPass, Draining: draining, WaitingForStartup: !started, Checks: []jsonCheck{}}
	if !ok {
		rep.Status = StatusFail
	}
	for _, res := range r.results {
		if res.Roles&role == 0 {
			continue
		}
		c := jsonCheck{Name: res.Name, Status: res.Status, Critical: res.Critical}
		if res.Err != nil {
			c.Error = res.Err.Error()
		}
		if !res.LastChecked.IsZero() {
			c.Duration = res.Duration.String()
			c.LastChecked = res.LastChecked.UTC().Format(time.RFC3339Nano)
		}
		rep.Checks = append(rep.Checks, c)
	}
	b, err := json.Marshal(rep)
	if err != nil { // cannot happen: only strings and bools
		return []byte(`{"status":"fail"}`)
	}
	return append(b, '\n')
}

// LivenessHandler serves /livez: 200 when no critical liveness check failed its last
// run, else 503, with a JSON body listing the liveness checks. It reads the cached
// state only.
func (r *Registry) LivenessHandler() http.Handler { return probe{r, 0} }

// ReadinessHandler serves /readyz: 200 when [Registry.Ready], else 503, with a JSON
// body listing the readiness checks (name, status, critical, error, duration,
// last_checked) and "draining" or "waiting_for_startup" when they apply. It reads the
// cached state only: no check runs on the request path.
func (r *Registry) ReadinessHandler() http.Handler { return probe{r, 1} }

// StartupHandler serves /startupz: 503 until every startup check has passed once,
// then 200, with a JSON body listing the startup checks.
func (r *Registry) StartupHandler() http.Handler { return probe{r, 2} }

// Mount registers the three handlers on mux as GET /livez, GET /readyz and
// GET /startupz (GET patterns match HEAD too).
func (r *Registry) Mount(mux *http.ServeMux) {
	mux.Handle("GET /livez", r.LivenessHandler())
	mux.Handle("GET /readyz", r.ReadinessHandler())
	mux.Handle("GET /startupz", r.StartupHandler())
}

type probe struct {
	r    *Registry
	kind int
}

func (p probe) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s := p.r.snap.Load()
	ok := s.live
	switch p.kind {
	case 1:
		ok = s.ready
	case 2:
		ok = s.started
	}
	h := w.Header()
	h["Content-Type"] = p.r.ctype
	h["Cache-Control"] = p.r.cacheCtl
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	w.Write(s.body[p.kind])
}
