package transport

// Header names Gantry reads and writes. They are shared by every package so that a
// server, a client and the resilience and discovery layers agree on the wire format.
const (
	// HeaderRequestID carries the request id from hop to hop. An inbound value is kept;
	// a missing one is generated.
	HeaderRequestID = "X-Request-Id"

	// HeaderTimeout carries the caller's remaining deadline, in whole milliseconds,
	// relative to the moment the request was sent (like grpc-timeout). A server turns it
	// into its request context's deadline.
	HeaderTimeout = "Gantry-Timeout"

	// HeaderAttempt carries the zero-based resend count of a request: absent or "0" on a
	// first attempt, "1" on the first retry, and so on. It mirrors the OTel attribute
	// http.request.resend_count.
	HeaderAttempt = "Gantry-Attempt"

	// HeaderRetryExhausted marks a response that the responding service already retried
	// to exhaustion against its own upstream. A client one hop up does not retry it again,
	// which keeps retries from multiplying across layers.
	HeaderRetryExhausted = "Gantry-Retry-Exhausted"

	// HeaderCriticality marks a request's importance to load shedding: "critical" is
	// shed last, "sheddable" first. Absent means default.
	HeaderCriticality = "Gantry-Criticality"

	// HeaderPrincipal carries the subject of the user an edge (the gateway) verified,
	// on the edge's calls to its upstreams. Like every Gantry-* header it is removed
	// from public requests by ServerSettings.Edge; an upstream believes it only from
	// the edge's verified service identity.
	HeaderPrincipal = "Gantry-Principal"

	// HeaderRoles carries the roles of that user (space-separated), on the same calls
	// and under the same trust: an upstream believes it only from the edge's verified
	// service identity, and only with a HeaderPrincipal.
	HeaderRoles = "Gantry-Roles"

	// HeaderIdempotencyKey makes a non-idempotent request (POST, PATCH) safe to retry and
	// lets the server deduplicate it (draft-ietf-httpapi-idempotency-key-header).
	HeaderIdempotencyKey = "Idempotency-Key"

	// HeaderRetryAfter is the standard Retry-After response header (seconds).
	HeaderRetryAfter = "Retry-After"
)
