package observability

import (
	"net/http"
	"net/textproto"
)

// headerCarrier is propagation.HeaderCarrier without the allocation that
// http.Header.Get makes to canonicalise the lowercase keys propagators use.
type headerCarrier http.Header

func canonical(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	case "baggage":
		return "Baggage"
	}
	return textproto.CanonicalMIMEHeaderKey(key)
}

// Get returns the first value of key.
func (c headerCarrier) Get(key string) string {
	if v := c[canonical(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key (multiple baggage headers).
func (c headerCarrier) Values(key string) []string { return c[canonical(key)] }

// Set sets key to value.
func (c headerCarrier) Set(key, value string) { c[canonical(key)] = []string{value} }

// Keys lists the header names.
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
