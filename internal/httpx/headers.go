package httpx

// HeaderAttempt duplicates transport.HeaderAttempt ("Gantry-Attempt", the zero-based
// resend count of a request) for observability, which sits beside transport and may
// not import it. A test in this package keeps the two equal.
const HeaderAttempt = "Gantry-Attempt"
