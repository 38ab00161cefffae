package resilience

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-go/gantry/transport"
)

// maxPrebuiltRetry is the largest Retry-After value (seconds) with a prebuilt header.
const maxPrebuiltRetry = 120

// reply is a prebuilt problem+json rejection. Writing it allocates nothing: the body,
// the header values and the Retry-After values are built once at construction and only
// read afterwards, so a reply is safe for concurrent use.
type reply struct {
	status int
	body   []byte
	ctype  []string
	nosnif []string
	close  []string   // Connection: close
	retry  [][]string // retry[s] = []string{"s"}, s in 1..maxPrebuiltRetry
}

func newReply(sentinel error) *reply {
	p := transport.ProblemFor(sentinel)
	p.Retry = 0
	if p.StatusCode() < 500 || p.Detail == "" || p.Status == http.StatusServiceUnavailable || p.Status == http.StatusGatewayTimeout {
		p.Detail = sentinel.Error()
	}
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"title":"Service Unavailable","status":503}`)
	}
	r := &reply{
		status: p.StatusCode(),
		body:   body,
		ctype:  []string{transport.ContentTypeProblem},
		nosnif: []string{"nosniff"},
		close:  []string{"close"},
		retry:  make([][]string, maxPrebuiltRetry+1),
	}
	for s := 1; s <= maxPrebuiltRetry; s++ {
		r.retry[s] = []string{strconv.Itoa(s)}
	}
	return r
}

// write sends the rejection. wait <= 0 means no Retry-After header; otherwise it is
// rounded up to whole seconds, at least 1.
func (r *reply) write(w http.ResponseWriter, wait time.Duration) {
	h := w.Header()
	h["Content-Type"] = r.ctype
	h["X-Content-Type-Options"] = r.nosnif
	if wait > 0 {
		s := int((wait + time.Second - 1) / time.Second)
		switch {
		case s < 1:
			s = 1
		case s > maxPrebuiltRetry:
			h.Set(transport.HeaderRetryAfter, strconv.Itoa(s))
			s = 0
		}
		if s > 0 {
			h[transport.HeaderRetryAfter] = r.retry[s]
		}
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}
