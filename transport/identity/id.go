package identity

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// maxIDLen is the longest SPIFFE ID the SPIFFE specification allows, in bytes.
const maxIDLen = 2048

// maxTrustDomainLen is the longest trust domain (a DNS name) accepted.
const maxTrustDomainLen = 255

// ID is a workload's SPIFFE ID, spiffe://<trust-domain>/ns/<namespace>/svc/<name>.
// Consul's form, which adds the datacenter (/ns/<namespace>/dc/<dc>/svc/<name>), is
// accepted too, so that IDs from Consul's CA round-trip. The zero ID is no identity;
// valid IDs come from [Parse] and [NewID]. An ID is a comparable value (usable as a
// map key) and safe for concurrent use.
type ID struct {
	td, ns, dc, svc string
}

// NewID returns the ID spiffe://trustDomain/ns/namespace/svc/service, or an error
// matching [ErrInvalidID] when a part has characters a SPIFFE ID does not allow.
func NewID(trustDomain, namespace, service string) (ID, error) {
	id := ID{td: trustDomain, ns: namespace, svc: service}
	if why := checkTrustDomain(trustDomain); why != "" {
		return ID{}, invalid(id.String(), why)
	}
	for _, seg := range [...]string{namespace, service} {
		if why := checkSegment(seg); why != "" {
			return ID{}, invalid(id.String(), why)
		}
	}
	return id, nil
}

// Parse reads a SPIFFE ID strictly: the scheme is exactly "spiffe://", the trust
// domain holds only lowercase letters, digits, '.', '-' and '_' (so no port, no
// userinfo), the path is /ns/<namespace>/svc/<name> or Consul's
// /ns/<namespace>/dc/<dc>/svc/<name> with segments of letters, digits, '.', '-' and
// '_', and there is no query, fragment, percent-encoding or trailing slash. Errors
// match [ErrInvalidID].
func Parse(s string) (ID, error) {
	if len(s) > maxIDLen {
		return ID{}, invalid(s, "longer than "+strconv.Itoa(maxIDLen)+" bytes")
	}
	rest, ok := strings.CutPrefix(s, "spiffe://")
	if !ok {
		return ID{}, invalid(s, `the scheme must be "spiffe://"`)
	}
	td, path, ok := strings.Cut(rest, "/")
	if !ok {
		return ID{}, invalid(s, "no path")
	}
	id, why := parts(td, path)
	if why != "" {
		return ID{}, invalid(s, why)
	}
	return id, nil
}

// fromURL is Parse for a URI SAN that crypto/x509 already parsed. On success it does
// not allocate: the ID's parts are substrings of u's fields.
func fromURL(u *url.URL) (ID, error) {
	if u.Scheme != "spiffe" || u.Opaque != "" || u.User != nil || u.RawPath != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
		return Parse(u.String()) // fails, with the reason
	}
	path, ok := strings.CutPrefix(u.Path, "/")
	if !ok {
		return ID{}, invalid(u.String(), "no path")
	}
	id, why := parts(u.Host, path)
	if why != "" {
		return ID{}, invalid(u.String(), why)
	}
	return id, nil
}

// parts checks a trust domain and a path (without its leading slash) and returns the
// ID they make, or the reason they make none.
func parts(td, path string) (ID, string) {
	if why := checkTrustDomain(td); why != "" {
		return ID{}, why
	}
	var seg [6]string
	n := 0
	for {
		if n == len(seg) {
			return ID{}, "too many path segments"
		}
		s, rest, more := strings.Cut(path, "/")
		if why := checkSegment(s); why != "" {
			return ID{}, why
		}
		seg[n] = s
		n++
		if !more {
			break
		}
		path = rest
	}
	switch {
	case n == 4 && seg[0] == "ns" && seg[2] == "svc":
		return ID{td: td, ns: seg[1], svc: seg[3]}, ""
	case n == 6 && seg[0] == "ns" && seg[2] == "dc" && seg[4] == "svc":
		return ID{td: td, ns: seg[1], dc: seg[3], svc: seg[5]}, ""
	}
	return ID{}, "the path must be /ns/<namespace>/svc/<name>"
}

func checkTrustDomain(td string) string {
	if td == "" {
		return "empty trust domain"
	}
	if len(td) > maxTrustDomainLen {
		return "trust domain longer than " + strconv.Itoa(maxTrustDomainLen) + " bytes"
	}
	for i := 0; i < len(td); i++ {
		if c := td[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Sprintf("trust domain character %q is not a lowercase letter, digit, '.', '-' or '_'", c)
		}
	}
	return ""
}

func checkSegment(s string) string {
	switch s {
	case "":
		return "empty path segment"
	case ".", "..":
		return "path segment " + strconv.Quote(s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Sprintf("path character %q is not a letter, digit, '.', '-' or '_'", c)
		}
	}
	return ""
}

func invalid(s, why string) error {
	if len(s) > 128 {
		s = s[:128] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidID, s, why)
}

// String returns the ID in its URI form, or "" for the zero ID.
func (id ID) String() string {
	if id == (ID{}) {
		return ""
	}
	if id.dc != "" {
		return "spiffe://" + id.td + "/ns/" + id.ns + "/dc/" + id.dc + "/svc/" + id.svc
	}
	return "spiffe://" + id.td + "/ns/" + id.ns + "/svc/" + id.svc
}

// ServiceName returns the name of the service the ID identifies.
func (id ID) ServiceName() string { return id.svc }

// Namespace returns the ID's namespace.
func (id ID) Namespace() string { return id.ns }

// TrustDomain returns the ID's trust domain.
func (id ID) TrustDomain() string { return id.td }

// url returns the ID as the URI SAN of a certificate.
func (id ID) url() *url.URL {
	u, _ := url.Parse(id.String()) // a valid ID is a valid URL
	return u
}
