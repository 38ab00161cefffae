package auth

import "errors"

// Sentinel errors of [Verifier.Verify] and [Authenticate]. Every error Verify returns
// for a bad token matches [ErrInvalidToken]; the more specific ones below also match
// their own sentinel.
var (
	// ErrNoToken means the request carried no Authorization header.
	ErrNoToken = errors.New("auth: no bearer token")
	// ErrInvalidToken matches every rejected token, wrapped with the reason.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrExpired matches tokens whose exp is past (beyond the leeway).
	ErrExpired = errors.New("auth: token expired")
	// ErrNotYetValid matches tokens whose nbf is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("auth: token not yet valid")
	// ErrUnknownKey matches tokens signed with a key id the provider's key set does
	// not hold, even after a refresh.
	ErrUnknownKey = errors.New("auth: unknown signing key")
	// ErrAlgorithm matches tokens whose alg is not allowed or does not fit the key.
	ErrAlgorithm = errors.New("auth: algorithm not allowed")
	// ErrInsufficientScope is what [RequireRole] and [RequireScope] answer with 403.
	ErrInsufficientScope = errors.New("auth: insufficient scope")
	// ErrProvider matches failures to read the provider's discovery document or key
	// set.
	ErrProvider = errors.New("auth: identity provider unavailable")
)

// tokenError wraps a reason so that it matches ErrInvalidToken and, when set, a
// more specific sentinel.
type tokenError struct {
	kind   error // ErrExpired, ... or nil
	reason error
}

func (e *tokenError) Error() string {
	if e.kind != nil {
		return e.kind.Error() + ": " + e.reason.Error()
	}
	return ErrInvalidToken.Error() + ": " + e.reason.Error()
}

func (e *tokenError) Unwrap() []error {
	if e.kind != nil {
		return []error{ErrInvalidToken, e.kind, e.reason}
	}
	return []error{ErrInvalidToken, e.reason}
}

func invalid(kind, reason error) error { return &tokenError{kind: kind, reason: reason} }
