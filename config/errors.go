package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid matches (through errors.Is) every error [Load] returns for bad
// configuration.
var ErrInvalid = errors.New("config: invalid configuration")

// FieldError is one problem with one environment variable. It is immutable once
// built and safe to share.
type FieldError struct {
	// Var is the full name of the environment variable, prefix included.
	Var string
	// Err says what is wrong with it.
	Err error
}

// Invalid returns a [*FieldError] for the variable name, with a message formatted
// like fmt.Errorf (so %w works). Validate methods use it so that [Load] can add the
// prefix of the struct (envPrefix) to the name.
func Invalid(name, format string, args ...any) error {
	return &FieldError{Var: name, Err: fmt.Errorf(format, args...)}
}

// Error returns "NAME: problem".
func (e *FieldError) Error() string { return e.Var + ": " + e.Err.Error() }

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Error is the error [Load] returns for bad configuration. It lists every problem
// found, parse errors and Validate errors alike. It is not modified after Load returns
// it and is safe for concurrent reads.
type Error struct {
	// Problems holds one error per problem, usually a [*FieldError].
	Problems []error
}

// Error lists every problem on one line, separated by "; ".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	fmt.Fprintf(&b, " (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteByte('s')
	}
	b.WriteString("): ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.As finds a [*FieldError].
func (e *Error) Unwrap() []error { return e.Problems }

// Is reports whether target is [ErrInvalid].
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Vars returns the names of the variables that have a problem, in order, without
// duplicates.
func (e *Error) Vars() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range e.Problems {
		var fe *FieldError
		if errors.As(p, &fe) && !seen[fe.Var] {
			seen[fe.Var] = true
			out = append(out, fe.Var)
		}
	}
	return out
}

// flatten turns a tree of joined errors into a list, adding prefix to the name of
// every [*FieldError] and to the names in its message that are in names.
func flatten(err error, prefix string, names map[string]bool, out []error) []error {
	if err == nil {
		return out
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, isFE := err.(*FieldError); !isFE {
			for _, e := range j.Unwrap() {
				out = flatten(e, prefix, names, out)
			}
			return out
		}
	}
	var fe *FieldError
	if prefix != "" && errors.As(err, &fe) && fe == err {
		return append(out, &FieldError{Var: prefix + fe.Var, Err: prefixNames(fe.Err, prefix, names)})
	}
	return append(out, err)
}

// prefixNames returns err with prefix put in front of every word of its message that
// is in names; a word is a run of letters, digits and underscores. The result
// unwraps to err, so errors.Is still finds what err wraps.
func prefixNames(err error, prefix string, names map[string]bool) error {
	if len(names) == 0 {
		return err
	}
	msg := err.Error()
	var b strings.Builder
	changed := false
	for i := 0; i < len(msg); {
		j := i
		for j < len(msg) && isWordByte(msg[j]) {
			j++
		}
		if j == i {
			b.WriteByte(msg[i])
			i++
			continue
		}
		if names[msg[i:j]] {
			b.WriteString(prefix)
			changed = true
		}
		b.WriteString(msg[i:j])
		i = j
	}
	if !changed {
		return err
	}
	return &renamed{msg: b.String(), err: err}
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// renamed is an error whose message names prefixed variables.
type renamed struct {
	msg string
	err error
}

func (r *renamed) Error() string { return r.msg }
func (r *renamed) Unwrap() error { return r.err }
