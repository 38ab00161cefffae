package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Options tune [Load] and [Describe]. The zero value reads the process environment
// with no prefix. Options is a plain value; Load only reads it.
type Options struct {
	// Environment replaces the process environment when not nil. Tests set it so
	// that they never touch os.Setenv.
	Environment map[string]string
	// Prefix is put in front of every variable name, e.g. "CATALOG_".
	Prefix string
}

// Option sets a field of [Options]. Options are applied in order; the functions
// returned here are safe to share.
type Option func(*Options)

// WithEnvironment makes [Load] read variables from m instead of the process
// environment. A nil m means the process environment.
func WithEnvironment(m map[string]string) Option {
	return func(o *Options) { o.Environment = m }
}

// WithPrefix puts prefix in front of every variable name.
func WithPrefix(prefix string) Option {
	return func(o *Options) { o.Prefix = prefix }
}

func buildOptions(opts []Option) Options {
	var o Options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Load parses the environment into a new T, which must be a struct type, and then
// calls Validate on every struct in it that has a `Validate() error` method (T
// itself and nested structs, whether the method has a value or a pointer receiver).
//
// Tags are those of github.com/caarlos0/env/v11: `env:"NAME"` (options ,required,
// ,notEmpty, ,file, ,expand), `envDefault:"..."`, `envPrefix:"..."` and
// `envSeparator:","`. Gantry adds two:
//
//   - `secret:"true"` marks a secret: its value may come from the file named by
//     NAME_FILE instead of NAME (setting both is an error; one trailing newline is
//     removed from the file), and it is shown as "[redacted]" by [Describe] and never
//     quoted in an error.
//   - `desc:"..."` describes the variable for the generated documentation.
//
// Load reports every problem at once: the returned error is an [*Error] (matching
// [ErrInvalid]) whose problems are [*FieldError]s naming each bad variable, parse
// errors (HTTP_READ_TIMEOUT=abc) and Validate errors alike. Validate methods name
// their variables with [Invalid], as written in the struct's own env tags, so that
// Load can add the envPrefix of the nested struct (and of the structs around it);
// other variables of the struct that a message mentions get the prefix too. A
// cross-field check on nested settings names the nested variable relative to the
// struct that makes it (RETRY_MAX_ATTEMPTS in a struct holding RetrySettings).
// Validate methods must not call the Validate of nested structs: Load does that, and
// drops duplicate messages; constructors that take settings call [Validate], which
// walks the struct the same way. On error Load returns the zero T.
//
// Load is safe for concurrent use; it does not modify the process environment
// (unless a field uses env's ,unset option).
func Load[T any](opts ...Option) (T, error) {
	var zero T
	o := buildOptions(opts)
	typ := reflect.TypeOf(zero)
	if typ == nil || typ.Kind() != reflect.Struct {
		return zero, fmt.Errorf("config: Load needs a struct type, got %v", typ)
	}
	environ := o.Environment
	if environ == nil {
		environ = env.ToMap(os.Environ())
	}
	leaves := collect(reflect.New(typ).Elem(), o.Prefix)
	environ, problems := resolveFiles(environ, leaves)

	cfg, err := env.ParseAsWithOptions[T](env.Options{Environment: environ, Prefix: o.Prefix})
	if err != nil {
		problems = append(problems, translate(err, leaves, environ)...)
	}
	bad := map[string]bool{}
	for _, p := range problems {
		var fe *FieldError
		if errors.As(p, &fe) {
			bad[fe.Var] = true
		}
	}
	problems = append(problems, unique(validateTree(reflect.ValueOf(&cfg).Elem(), o.Prefix, nil, nil), bad)...)
	if len(problems) > 0 {
		return zero, &Error{Problems: problems}
	}
	return cfg, nil
}

// Validate checks v, a settings struct or a pointer to one, exactly as [Load] does
// after parsing: it calls Validate on v and on every struct nested in it, adding the
// envPrefix of each nested struct to the variable names in its problems (no outer
// prefix). It returns nil or an [*Error] (matching [ErrInvalid]) that lists each
// problem once.
//
// Constructors that take settings call it, so that a value built in code is checked
// like a loaded one, nested settings included. A Validate method checks its own
// fields only and must not call Validate on its own receiver, which would not end.
func Validate(v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return fmt.Errorf("config: Validate needs a struct, got %T", v)
	}
	if !rv.CanAddr() {
		// An addressable copy, so that Validate methods with pointer receivers are found.
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		rv = p.Elem()
	}
	if problems := unique(validateTree(rv, "", nil, nil), nil); len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// unique drops problems with the message of an earlier one, and the problems of
// variables in skip (already reported as parse errors).
func unique(problems []error, skip map[string]bool) []error {
	var out []error
	seen := map[string]bool{}
	for _, p := range problems {
		var fe *FieldError
		if errors.As(p, &fe) && skip[fe.Var] {
			continue
		}
		if msg := p.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, p)
		}
	}
	return out
}

// resolveFiles returns a copy of environ in which every secret NAME given as
// NAME_FILE holds the file's content.
func resolveFiles(environ map[string]string, leaves []leaf) (map[string]string, []error) {
	var problems []error
	var out map[string]string
	for _, l := range leaves {
		if !l.secret {
			continue
		}
		fileVar := l.name + "_FILE"
		path := environ[fileVar]
		if path == "" {
			continue
		}
		if environ[l.name] != "" {
			problems = append(problems, &FieldError{Var: fileVar, Err: fmt.Errorf("set only one of %s and %s", l.name, fileVar)})
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, &FieldError{Var: fileVar, Err: fmt.Errorf("reading secret file: %w", err)})
			continue
		}
		if out == nil {
			out = make(map[string]string, len(environ)+1)
			for k, v := range environ {
				out[k] = v
			}
		}
		s := strings.TrimSuffix(string(b), "\n")
		out[l.name] = strings.TrimSuffix(s, "\r")
	}
	if out == nil {
		return environ, problems
	}
	return out, problems
}

// translate turns env's aggregate error into problems that name variables.
func translate(err error, leaves []leaf, environ map[string]string) []error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return []error{fmt.Errorf("config: %w", err)}
	}
	var out []error
	for _, e := range agg.Errors {
		switch e := e.(type) {
		case env.ParseError:
			found := false
			var cands []leaf
			for _, l := range leaves {
				if l.sf.Name == e.Name && l.sf.Type == e.Type {
					cands = append(cands, l)
				}
			}
			for _, l := range cands {
				raw, ok := environ[l.name]
				if !ok || raw == "" {
					raw = l.def
				}
				if len(cands) > 1 && parses(l.sf, raw) {
					continue
				}
				found = true
				out = append(out, parseProblem(l, raw, e))
			}
			if !found {
				out = append(out, fmt.Errorf("config: field %s: %w", e.Name, e.Err))
			}
		case env.VarIsNotSetError:
			out = append(out, &FieldError{Var: e.Key, Err: errors.New("required but not set")})
		case env.EmptyVarError:
			out = append(out, &FieldError{Var: e.Key, Err: errors.New("must not be empty")})
		case env.LoadFileContentError:
			out = append(out, &FieldError{Var: e.Key, Err: fmt.Errorf("reading file: %w", e.Err)})
		default:
			out = append(out, fmt.Errorf("config: %w", e))
		}
	}
	return out
}

func parseProblem(l leaf, raw string, e env.ParseError) error {
	if l.secret {
		return &FieldError{Var: l.name, Err: fmt.Errorf("cannot parse the (secret) value as %v", e.Type)}
	}
	return &FieldError{Var: l.name, Err: fmt.Errorf("cannot parse %q as %v: %w", raw, e.Type, e.Err)}
}

// parses reports whether env can parse raw into a field like sf.
func parses(sf reflect.StructField, raw string) bool {
	tag := `env:"V"`
	for _, k := range []string{"envSeparator", "envKeyValSeparator"} {
		if v, ok := sf.Tag.Lookup(k); ok {
			tag += fmt.Sprintf(" %s:%q", k, v)
		}
	}
	st := reflect.StructOf([]reflect.StructField{{Name: "V", Type: sf.Type, Tag: reflect.StructTag(tag)}})
	p := reflect.New(st)
	return env.ParseWithOptions(p.Interface(), env.Options{Environment: map[string]string{"V": raw}}) == nil
}

type validator interface{ Validate() error }

// validateTree calls Validate on v and on every nested struct, depth first, adding
// the envPrefix of each nested struct to the names in its problems: to the variable
// each *FieldError names, and to the struct's own variables (relative to it, nested
// ones included) that its message mentions, such as the other side of a cross-field
// check. stack holds the struct types being walked, so that recursive types end.
func validateTree(v reflect.Value, prefix string, out []error, stack []reflect.Type) []error {
	if v.Kind() != reflect.Struct || len(stack) > 32 || slices.Contains(stack, v.Type()) {
		return out
	}
	stack = append(stack, v.Type())
	var val validator
	if v.CanAddr() {
		val, _ = v.Addr().Interface().(validator)
	} else if v.CanInterface() {
		val, _ = v.Interface().(validator)
	}
	if val != nil {
		if err := val.Validate(); err != nil {
			var names map[string]bool
			if prefix != "" {
				names = map[string]bool{}
				for _, l := range collect(v, "") {
					names[l.name] = true
				}
			}
			out = flatten(err, prefix, names, out)
		}
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if key, _ := splitTag(sf.Tag.Get("env")); key == "-" {
			continue
		}
		fv := v.Field(i)
		p := prefix + sf.Tag.Get("envPrefix")
		switch {
		case fv.Kind() == reflect.Pointer && !fv.IsNil() && fv.Elem().Kind() == reflect.Struct:
			out = validateTree(fv.Elem(), p, out, stack)
		case fv.Kind() == reflect.Struct:
			out = validateTree(fv, p, out, stack)
		}
	}
	return out
}
