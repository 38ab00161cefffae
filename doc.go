// Package gantry provides the compositions and the lifecycle of a Gantry service.
//
// NewServer, NewClient and NewAdmin build a service's API server, its upstream client
// and its admin server (probes, /metrics, /debug/*) from the transport,
// observability, resilience and discovery packages, in the one order of composition
// that ExampleNewServer and ExampleNewClient show and explain.
//
// Run starts the HTTP servers and background components it is handed and, on
// SIGTERM, SIGINT or when its context is cancelled, stops them in the order that
// loses no request:
//
//  1. Drain: every Drainer is told at once (the health registry turns /readyz to 503,
//     the Consul registrar marks the instance critical or in maintenance), and the
//     servers stop keeping connections alive, so clients re-dial elsewhere.
//  2. Wait Settings.DrainDelay, so load balancers and discovery watchers stop sending.
//  3. Stop the Registrars (deregistration) and wait for them.
//  4. http.Server.Shutdown with the rest of the budget: listeners close at once (new
//     connections are refused), in-flight requests finish.
//  5. Cancel the servers' BaseContext, so long requests and streams end.
//  6. Stop the Runners among Options.Components and wait for them.
//  7. Shut down every Shutdowner among Options.Components (telemetry flushes its
//     traces and metrics).
//
// Each phase is logged with its duration. A second signal abandons the sequence and
// makes Run return at once. Run never calls os.Exit: main decides the exit code.
//
// The package is the top layer of Gantry. Run knows its components only through
// small interfaces (Runner, Drainer, Shutdowner), so a health registry, a registrar
// or a telemetry set-up of any package plugs in without Run importing it.
package gantry
