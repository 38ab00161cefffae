// Package consul provides Consul service registration and discovery over
// github.com/hashicorp/consul/api.
//
// Registrar registers one service instance with a health check (a TTL check fed by
// the health registry's cached readiness, or an HTTP check on /readyz), keeps it
// registered across agent restarts, puts it in maintenance on Drain and deregisters
// it when its Run context ends, which is the order gantry.Run needs.
//
// Resolver watches services with blocking queries (passing instances only, all of the
// configured tags), keeps the last good set while the agent is unreachable
// (stale-if-error, with the staleness exported as an OTel metric), backs off with
// jitter instead of spinning, applies an explicit policy to empty answers, and
// publishes each service into a discovery.Feed for balancers and go-kit.
//
// Neither builds its own *api.Client: pass one, typically
// api.NewClient(api.DefaultConfig()), which honours CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_CACERT and the other CONSUL_*
// variables exactly as Consul's own tools do. Nothing here logs the token.
package consul
