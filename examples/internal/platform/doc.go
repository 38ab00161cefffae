// Package platform removes the start-up boilerplate that is identical in the four
// example services' main functions, and nothing more. Each main still reads top to
// bottom as config -> construct -> wire -> run (CONTRIBUTING.md, rule 27): it loads
// its own config struct (which embeds Settings), builds its store and service, and
// calls gantry.NewServer, gantry.NewAdmin and gantry.Run itself. platform only offers
// the pieces each main would otherwise copy:
//
//   - Settings and Environ: the shared environment variables and per-service defaults;
//   - NewLogger: the service's logger;
//   - ConsulClient, NewRegistrar and NewResolver: Consul registration when
//     CONSUL_HTTP_ADDR is set, and a resolver (Consul, DISCOVERY_DNS or
//     DISCOVERY_STATIC);
//   - DBCheck: the readiness check of a SQLite file (the services open theirs with
//     their OpenStore: SQLite under DATA_DIR, or PostgreSQL with DATABASE_URL);
//   - Healthcheck: the -healthcheck mode for FROM-scratch containers, which have no
//     shell or curl to probe /readyz (on ADMIN_ADDR) with.
package platform
