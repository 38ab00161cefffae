// Package route carries the ServeMux route pattern outward through middleware that
// copies the request. It is shared by the transport and resilience packages, which
// both have such middleware.
package route

import "net/http"

// Keep copies the route pattern that an http.ServeMux set on inner, a copy of outer
// made by a middleware (r.WithContext, *r2 = *r), back to outer, so that the
// middleware outside it (access logs, metrics, tracing) can report the route.
// ServeMux writes Pattern only into the request it is handed; call Keep after the
// inner handler has returned. It never overwrites a pattern outer already has, and
// does nothing when outer and inner are the same request.
func Keep(outer, inner *http.Request) {
	if outer != inner && outer.Pattern == "" {
		outer.Pattern = inner.Pattern
	}
}
