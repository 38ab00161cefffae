// Package resilience provides the policies that keep one failing dependency from
// taking down the rest of a service: a circuit breaker (over sony/gobreaker v2), rate
// limiting (over golang.org/x/time/rate), retries with backoff and a retry budget,
// per-attempt timeouts and deadline propagation, bulkheads, adaptive load shedding and
// typed fallbacks.
//
// Every policy has one implementation and three thin adapters: server middleware
// (func(http.Handler) http.Handler), client middleware
// (func(http.RoundTripper) http.RoundTripper) and go-kit endpoint.Middleware. Every
// policy classifies results through the one taxonomy in package transport
// (transport.Classify), so a 404 never trips a breaker and a canceled call never
// counts against an upstream.
//
// Each policy rejects with its own sentinel error (ErrOpen, ErrRateLimited,
// ErrBulkheadFull, ErrShed, ErrBudgetExhausted, ErrDeadlineTooShort). The sentinels
// implement transport.StatusCoder and transport.RetryAfterer, so transport.WriteError
// turns them into 503 or 429 problem+json responses with Retry-After. Server adapters
// write a prebuilt body instead, without allocating.
//
// The recommended order of composition (CONTRIBUTING.md, rule 7) is built by
// NewClientStack and NewServerStack from an env-tagged ClientSettings or ServerSettings:
//
//	server: recover -> trace/metrics/log -> ratelimit -> shed -> deadline -> handler
//	client: trace -> retry(budget) -> ratelimit -> breaker -> attempt timeout -> balancer -> transport
//
// DebugHandler serves a JSON snapshot of every breaker, limiter, bulkhead, shedder and
// retry budget for operators (mount it at /debug/resilience).
package resilience
