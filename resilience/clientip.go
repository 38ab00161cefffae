package resilience

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// KeyByClientIP keys by the client's address: the host of the request's RemoteAddr
// (server side), an IPv6 address reduced to its /64, since one host or household gets
// a whole /64 and could otherwise mint keys at will. It trusts no forwarding header;
// behind a proxy, use KeyByForwardedClient.
func KeyByClientIP(r *http.Request) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.IndexByte(host, ':') < 0 {
		return host // IPv4 or a name: as is, without allocating
	}
	return clientKey(host)
}

// clientKey returns the rate-limit key of an address string: IPv4 as is, IPv6 as its
// /64 prefix, anything unparsable as is.
func clientKey(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// KeyByForwardedClient returns a KeyFunc for a server behind proxies whose addresses
// are in trusted. When the peer (RemoteAddr) is trusted, the client is the right-most
// address of X-Forwarded-For (or, without it, of the Forwarded header's for=) that is
// not itself trusted; a request from any other peer is keyed by the peer, whatever
// headers it sets, so a client cannot choose its own key. An entry that is not an
// address stops the walk and keys by the proxy that sent it. IPv6 clients are keyed
// by /64, as in KeyByClientIP. With no trusted prefixes it is KeyByClientIP.
func KeyByForwardedClient(trusted []netip.Prefix) KeyFunc {
	if len(trusted) == 0 {
		return KeyByClientIP
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, ok := parseHost(r.RemoteAddr)
		if !ok || !isTrusted(peer) {
			return KeyByClientIP(r)
		}
		hops := forwardedFor(r.Header)
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHost(hops[i])
			if !ok {
				break
			}
			if !isTrusted(a) {
				return clientKey(a.String())
			}
			peer = a
		}
		return clientKey(peer.String())
	}
}

// forwardedFor lists the hops of X-Forwarded-For, client first, or, when the request
// has none, the for= values of Forwarded (RFC 7239).
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, e := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(e))
		}
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					hops = append(hops, strings.Trim(val, `"`))
				}
			}
		}
	}
	return hops
}

// parseHost parses "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" or "[::1]:80".
func parseHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
