package identity

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalidID matches the errors of [Parse] and [NewID], and of handshakes whose
	// peer certificate names a malformed SPIFFE ID.
	ErrInvalidID = errors.New("identity: invalid spiffe id")
	// ErrNoIdentity matches handshake errors for a certificate (the peer's or our
	// own) that does not carry exactly one URI SAN holding a SPIFFE ID.
	ErrNoIdentity = errors.New("identity: certificate has no single spiffe id")
	// ErrForeignTrustDomain matches handshake errors for a peer whose SPIFFE ID is in
	// another trust domain than our own certificate's.
	ErrForeignTrustDomain = errors.New("identity: peer is in another trust domain")
	// ErrWrongIdentity matches the dial errors of [Transport] when the server's
	// SPIFFE ID is not the service the request was meant for; the error is a
	// [*WrongIdentityError].
	ErrWrongIdentity = errors.New("identity: server is not the intended service")
	// ErrDenied is returned by an [Authorizer] that refuses a caller; [Authorize]
	// answers such requests with 403.
	ErrDenied = errors.New("identity: caller not allowed")
	// ErrInvalidPolicy matches the errors of [NewPolicy].
	ErrInvalidPolicy = errors.New("identity: invalid policy")
)

// WrongIdentityError reports a server that proved an identity other than the one the
// caller meant to reach (see [WithService]). It matches [ErrWrongIdentity]. It is
// immutable once built.
type WrongIdentityError struct {
	// Want is the service name the request was meant for.
	Want string
	// Got is the SPIFFE ID the server's certificate proved.
	Got ID
}

// Error names both identities.
func (e *WrongIdentityError) Error() string {
	return ErrWrongIdentity.Error() + ": want service " + strconv.Quote(e.Want) + ", got " + e.Got.String()
}

// Is reports whether target is [ErrWrongIdentity].
func (e *WrongIdentityError) Is(target error) bool { return target == ErrWrongIdentity }
