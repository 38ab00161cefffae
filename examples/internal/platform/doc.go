// Package platform removes the start-up boilerplate that is identical in the four
// example services' main functions, and nothing more. Each main still reads top to
// bottom as config -> construct -> wire -> run (STYLE.md #19): it loads its own
// config struct (which embeds Settings), builds its store and service, and calls
// gantry.Run itself. platform only offers the pieces each main would otherwise copy:
//
//   - Settings and Environ: the shared environment variables and per-service defaults;
//   - NewLogger, ServerChain and Mount: the logger, the server middleware chain in the
//     documented order, and the operational endpoints (/livez /readyz /startupz
//     /metrics /debug/discovery /debug/resilience) beside the service's API;
//   - ConsulClient, NewRegistrar and NewResolver: Consul registration when
//     CONSUL_HTTP_ADDR is set, and a resolver (Consul or DISCOVERY_STATIC);
//   - OpenDB and DBCheck: the service's SQLite file under DATA_DIR and its health check;
//   - Healthcheck: the -healthcheck mode for FROM-scratch containers, which have no
//     shell or curl to probe /readyz with.
package platform
