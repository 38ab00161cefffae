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
// gantry.NewClient and gantry.NewServer compose these policies in the one order of
// composition shown in the gantry package's ExampleNewClient and ExampleNewServer;
// NewClientStack builds the client-side policies from an env-tagged ClientSettings.
//
// DebugHandler serves a JSON snapshot of every breaker, limiter, bulkhead, shedder and
// retry budget for operators (mount it at /debug/resilience).
package resilience
