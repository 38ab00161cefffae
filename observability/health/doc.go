// Package health provides a registry of named health checks and the /livez, /readyz
// and /startupz handlers that report them, for Kubernetes probes, load balancers and
// the Consul TTL check.
//
// Each [Check] has roles (liveness, readiness, startup), a criticality, a timeout and
// an interval. [Registry.Run] runs every check in the background at its interval and
// caches the results; the handlers and [Registry.Ready] only read that cache, so a
// probe never calls a database or a downstream service, however often it comes.
//
// Liveness answers "is this process wedged and in need of a restart?". It must not
// depend on downstream services: if the database goes down, restarting every replica
// only makes things worse. Give liveness checks only in-process conditions (an event
// loop that still ticks, a goroutine that still reports); a registry with no liveness
// checks answers /livez with 200 as long as the process serves HTTP.
//
// Readiness answers "should traffic be sent here?". It fails when a critical
// readiness check fails, until every startup check has passed once, and at once when
// [Registry.Drain] is called at the start of shutdown. A failing non-critical check
// is reported in the body but leaves readiness alone.
//
// Startup answers "has the service finished starting?": /startupz is 503 until every
// startup check has passed once, then 200 for good.
package health
