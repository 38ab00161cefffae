package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/auth"
)

// NewHandler returns the gateway's HTTP handler: requests under a route of Routes are
// proxied to their upstream through rt; anything else is a 404 problem. rt is
// required; logger may be nil.
//
// Inbound Gantry-* and Authorization headers are dropped; the subject of a principal
// that Authenticate verified goes upstream as Gantry-Principal.
// Inbound Gantry-* headers are dropped: they are internal, and a public client must
// not choose its own criticality or deadline budget (serve the handler with
// gantry.NewServer and ServerSettings.Edge, which also removes them from responses).
// Upstream responses, problem+json included, are passed through, less the upstream's
// X-Request-Id (the gateway's own, the same id, is kept). When rt
// fails, the client sees a problem of the gateway's own: 503 with Retry-After when the
// upstream is known to be unavailable (no instance, connection refused, an open
// breaker, a rate limit), 504 when the deadline passed, and 502 for any other failure
// (reset, malformed response). The handler is safe for concurrent use.
func NewHandler(rt http.RoundTripper, u Upstreams, logger *slog.Logger) (http.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u = u.withDefaults()
	targets := map[string]*url.URL{}
	for name, raw := range map[string]string{"catalog": u.Catalog, "cart": u.Cart, "payment": u.Payment} {
		t, err := url.Parse(raw)
		if err != nil || t.Host == "" || (t.Scheme != "http" && t.Scheme != "https") {
			return nil, &ConfigError{Upstream: name, URL: raw}
		}
		targets[name] = t
	}
	proxies := map[string]*httputil.ReverseProxy{}
	for name, t := range targets {
		proxies[name] = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				in := pr.In.URL
				pr.Out.URL.Scheme = t.Scheme
				pr.Out.URL.Host = t.Host
				pr.Out.URL.Path = t.Path + strings.TrimPrefix(in.Path, "/api")
				pr.Out.URL.RawPath = ""
				if in.RawPath != "" {
					pr.Out.URL.RawPath = t.Path + strings.TrimPrefix(in.RawPath, "/api")
				}
				pr.Out.Host = t.Host
				// The upstream learns the client from X-Forwarded-For, set here from the
				// connection; a client's own claims are not passed on.
				pr.Out.Header.Del("X-Real-Ip")
				pr.Out.Header.Del("Forwarded")
				pr.SetXForwarded()
				// Gantry-* headers are internal (deadline, attempt, criticality, retry
				// exhaustion): a public client does not get to set them. The client
				// chain adds the gateway's own.
				for k := range pr.Out.Header {
					if strings.HasPrefix(k, "Gantry-") {
						pr.Out.Header.Del(k)
					}
				}
				// The user's token stays at the edge; the upstream learns the verified
				// subject (Authenticate put it on the context), which it believes only
				// from the gateway's service identity.
				pr.Out.Header.Del("Authorization")
				if p, ok := auth.FromContext(pr.In.Context()); ok {
					pr.Out.Header.Set(transport.HeaderPrincipal, p.Subject)
					if roles := headerRoles(p.Roles); roles != "" {
						pr.Out.Header.Set(transport.HeaderRoles, roles)
					}
				}
			},
			Transport:     rt,
			FlushInterval: -1,
			// The gateway's own X-Request-Id is already on the response (the upstream
			// echoes the same id); keep one.
			ModifyResponse: func(resp *http.Response) error {
				resp.Header.Del(transport.HeaderRequestID)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				p := upstreamProblem(name, err)
				if p.Status >= 500 && p.Status != transport.StatusClientClosedRequest {
					logger.WarnContext(r.Context(), "upstream call failed", "upstream", name, "status", p.Status, "error", err)
				}
				transport.WriteProblem(w, r, p)
			},
		}
	}
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		p := sized(proxies[rt.Upstream])
		if rt.Role != "" {
			p = requireRole(rt.Role, p)
		}
		mux.Handle(rt.Prefix, p)
		mux.Handle(rt.Prefix+"/", p)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusNotFound,
			Detail: "no route: the gateway serves /api/products, /api/carts and /api/orders (and, to an operator, /api/inventory and /api/payments)"})
	})
	return mux, nil
}

// requireRole serves next only to a request whose verified user (Authenticate put it
// on the context) holds role, and answers 403 problem+json to every other: with
// GATEWAY_AUTH=off there is no user, so an operator's route is closed to the public
// rather than open to it. Authenticate already answered an anonymous request 401 and
// a user without the role 403; this check does not depend on that order of wiring.
func requireRole(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := auth.FromContext(r.Context()); !ok || !p.HasRole(role) {
			transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusForbidden,
				Detail: "this route needs a user with the " + role + " role"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerRoles joins the roles that can travel in the Gantry-Roles header (those
// ValidSubject accepts: printable ASCII, no spaces) with spaces. A role that cannot
// is left out: it could not be told apart from two roles, or from another header.
func headerRoles(roles []string) string {
	var b strings.Builder
	for _, r := range roles {
		if !ValidSubject(r) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(r)
	}
	return b.String()
}

// replayLimit bounds the body of a retryable request that the gateway keeps in memory
// so that the client stack can send it again (see sized).
const replayLimit = 64 << 10

// sized reads two kinds of request body into memory before forwarding.
//
// A body sent without a Content-Length (chunked), so that one over the server's body
// limit (gantry.NewServer wraps it in http.MaxBytesReader) is answered 413 by the
// gateway itself. Streamed instead, the upstream may answer first (a 400 for the part
// it has read) and the client would see that, or a 502, depending on a race. The buffer
// is at most the body limit (1 MiB by default); bodies with a Content-Length over the
// limit never get here.
//
// And the body, up to replayLimit, of a request the client stack may retry
// (transport.Idempotent: PUT, DELETE, or an Idempotency-Key), with GetBody set: the
// retry can only send a body again that it can replay. Streamed, a PUT whose upstream
// replica died mid-request (its connection reset) could not be retried on another one,
// and the client got a 502 instead of the answer (seen in the compose test when a cart
// replica was killed under load). Other bodies are streamed.
func sized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > 0 && (r.ContentLength > replayLimit || !transport.Idempotent(r)) {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			transport.WriteError(w, r, err)
			return
		case err != nil:
			// The client hung up or sent a malformed chunk.
			transport.WriteProblem(w, r, &transport.Problem{Status: http.StatusBadRequest,
				Detail: "the request body could not be read"})
			return
		}
		r2 := r.Clone(r.Context())
		r2.ContentLength = int64(len(body))
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r2.TransferEncoding = nil
		next.ServeHTTP(w, r2)
	})
}

// ConfigError reports an upstream URL the gateway cannot use.
type ConfigError struct {
	Upstream string
	URL      string
}

func (e *ConfigError) Error() string {
	return "gateway: upstream " + e.Upstream + ": " + strconv.Quote(e.URL) + " is not an absolute http(s) URL"
}

// upstreamProblem maps a RoundTripper error to the problem the client sees.
func upstreamProblem(upstream string, err error) *transport.Problem {
	var sc transport.StatusCoder
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		// The client's body passed the gateway's limit while being forwarded.
		return transport.ProblemFor(err)
	case errors.Is(err, context.Canceled):
		return transport.ProblemFor(err)
	case errors.Is(err, context.DeadlineExceeded):
		return &transport.Problem{Status: http.StatusGatewayTimeout, Detail: upstream + " did not answer in time"}
	case errors.As(err, &sc):
		// Rejections by the client chain itself (open breaker, rate limit, retry
		// budget) know their status and Retry-After.
		p := transport.ProblemFor(err)
		if p.Status >= 500 {
			p.Detail = upstream + " is unavailable"
		}
		return p
	case transport.IsConnectionError(err) || discovery.IsResolveError(err):
		return &transport.Problem{Status: http.StatusServiceUnavailable, Detail: upstream + " is unavailable", Retry: time.Second}
	}
	return &transport.Problem{Status: http.StatusBadGateway, Detail: upstream + " failed to answer"}
}
