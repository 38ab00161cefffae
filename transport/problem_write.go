package transport

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// ContentTypeProblem is the media type of an RFC 9457 problem details body.
const ContentTypeProblem = "application/problem+json"

// WriteError writes err to w as an application/problem+json response, using
// ProblemFor to choose the status and body. When the problem has no Instance, the
// request id (HeaderRequestID of the response, then of the request) is used. A
// positive Retry becomes a Retry-After header in whole seconds, rounded up, at least 1.
// r may be nil.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	WriteProblem(w, r, ProblemFor(err))
}

// WriteProblem writes p as is (see WriteError).
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	h := w.Header()
	if p.Instance == "" {
		id := h.Get(HeaderRequestID)
		if id == "" && r != nil {
			id = r.Header.Get(HeaderRequestID)
		}
		if id != "" {
			cp := *p
			cp.Instance = id
			p = &cp
		}
	}
	if p.Status == 0 || p.Title == "" {
		cp := *p
		cp.Status = p.StatusCode()
		cp.Title = p.title()
		p = &cp
	}
	if p.Retry > 0 {
		h.Set(HeaderRetryAfter, retryAfterSeconds(p.Retry))
	}
	body, err := json.Marshal(p)
	if err != nil { // a Problem always marshals; keep a safe body anyway
		body = []byte(`{"title":"Internal Server Error","status":500}`)
	}
	h.Set("Content-Type", ContentTypeProblem)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(p.StatusCode())
	_, _ = w.Write(body)
}

// retryAfterSeconds formats d as a Retry-After value: whole seconds, rounded up,
// never below 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// ParseRetryAfter reads a Retry-After header value in seconds or as an HTTP date,
// relative to now. It returns 0 and false when the value is missing or malformed.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Negative values, and values too large for a time.Duration (they would
		// overflow into a negative wait), are malformed.
		if s < 0 || s > int64(math.MaxInt64/time.Second) {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}
