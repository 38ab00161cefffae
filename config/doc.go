// Package config provides environment-variable configuration for Gantry services: one
// [Load] call at the edge of main turns the environment into a typed settings struct.
//
// It is a thin layer over github.com/caarlos0/env/v11, whose struct tags it keeps
// (`env:"NAME"`, `envDefault:"..."`, `envPrefix:"..."`, `,required`, `,notEmpty`). On
// top of that it adds what a service needs at start-up:
//
//   - Validation: after parsing, every struct in the tree that has a
//     `Validate() error` method is validated. All problems, parse errors included, come
//     back as ONE error (an [*Error], which matches [ErrInvalid]) that names every bad
//     variable, so an operator fixes them in one go instead of one per restart.
//     Constructors check settings built in code the same way with [Validate].
//   - Secrets: a field tagged `secret:"true"` may instead be given as a file through
//     NAME_FILE (Docker and Kubernetes secrets), and its value never appears in a dump,
//     a log line or an error message.
//   - A redacted dump of the effective configuration ([Describe]), usable as slog
//     attributes or text, and a markdown table of every variable
//     ([Dump.Markdown]) built from the `desc:"..."` tags.
//
// Tests pass the environment explicitly with [WithEnvironment] and never touch the
// process environment.
package config
