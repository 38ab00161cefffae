package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gantry-go/gantry/discovery"
)

// ErrNotFound is returned (wrapped) when a name has no records of the queried type.
var ErrNotFound = errors.New("dns: no such records")

// TTLResolver resolves a target and reports how long its answer may be cached. When
// the Lookuper given to NewResolver implements it, as Client does, the Resolver calls
// ResolveTTL instead of the Lookuper's methods and resolves the target again after
// the TTL, clamped to [1s, Settings.MaxTTL], instead of after Settings.Interval.
type TTLResolver interface {
	ResolveTTL(ctx context.Context, t Target) ([]discovery.Instance, time.Duration, error)
}

// Client is a small DNS stub client that reports record TTLs, so that a Resolver over
// it resolves names again when their answers expire rather than every
// Settings.Interval. It asks one server (UDP, then TCP when the answer is truncated)
// for A, AAAA and SRV records of fully qualified names; it does not apply resolv.conf
// search domains, so give Targets fully qualified names.
//
// A Client implements Lookuper and TTLResolver. Its zero value is not usable; call
// NewClient. It is safe for concurrent use.
type Client struct {
	server string
	dialer net.Dialer
}

var (
	_ Lookuper    = (*Client)(nil)
	_ TTLResolver = (*Client)(nil)
)

// NewClient returns a Client that queries server (host:port). An empty server means
// the first nameserver of /etc/resolv.conf, or 127.0.0.1:53 if there is none.
func NewClient(server string) *Client {
	if server == "" {
		server = systemNameserver("/etc/resolv.conf")
	}
	return &Client{server: server}
}

func systemNameserver(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "127.0.0.1:53"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip := net.ParseIP(fields[1]); ip != nil {
				return net.JoinHostPort(ip.String(), "53")
			}
		}
	}
	return "127.0.0.1:53"
}

// answer is what one query returned: records from the answer and additional sections.
type answer struct {
	ips  map[string][]net.IP // owner name -> addresses
	srvs []*net.SRV
	ttl  uint32 // minimum TTL of the records used
}

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// ResolveTTL implements TTLResolver: it returns t's instances and the smallest TTL of
// the records they came from.
func (c *Client) ResolveTTL(ctx context.Context, t Target) ([]discovery.Instance, time.Duration, error) {
	if !t.SRV {
		ips, ttl, err := c.addrs(ctx, fqdn(t.Name), nil)
		if err != nil {
			return nil, 0, err
		}
		out := make([]discovery.Instance, 0, len(ips))
		for _, ip := range ips {
			out = append(out, instance(ip, t.Port))
		}
		return dedupe(out), time.Duration(ttl) * time.Second, nil
	}
	a, err := c.query(ctx, fqdn(t.Name), dnsmessage.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	if len(a.srvs) == 0 {
		return nil, 0, fmt.Errorf("%w: SRV %s", ErrNotFound, t.Name)
	}
	ttl := a.ttl
	var out []discovery.Instance
	for _, s := range a.srvs {
		ips, ttlIP, err := c.addrs(ctx, s.Target, a.ips[strings.ToLower(s.Target)])
		if err != nil {
			return nil, 0, err
		}
		ttl = min(ttl, ttlIP)
		for _, ip := range ips {
			out = append(out, instance(ip, int(s.Port)))
		}
	}
	return dedupe(out), time.Duration(ttl) * time.Second, nil
}

// addrs returns name's A and AAAA addresses, or known if the SRV answer already
// carried them (TTL then comes from the SRV answer).
func (c *Client) addrs(ctx context.Context, name string, known []net.IP) ([]net.IP, uint32, error) {
	if ip := net.ParseIP(strings.TrimSuffix(name, ".")); ip != nil {
		return []net.IP{ip}, 1<<31 - 1, nil
	}
	if len(known) > 0 {
		return known, 1<<31 - 1, nil
	}
	ttl := uint32(1<<31 - 1)
	var ips []net.IP
	for _, typ := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		a, err := c.query(ctx, name, typ)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, 0, err
		}
		if a != nil {
			for _, v := range a.ips {
				ips = append(ips, v...)
			}
			if len(a.ips) > 0 {
				ttl = min(ttl, a.ttl)
			}
		}
	}
	if len(ips) == 0 {
		return nil, 0, fmt.Errorf("%w: A/AAAA %s", ErrNotFound, name)
	}
	return ips, ttl, nil
}

// LookupSRV implements Lookuper (service and proto are ignored; name is queried as is).
func (c *Client) LookupSRV(ctx context.Context, _, _, name string) (string, []*net.SRV, error) {
	a, err := c.query(ctx, fqdn(name), dnsmessage.TypeSRV)
	if err != nil {
		return "", nil, err
	}
	return fqdn(name), a.srvs, nil
}

// LookupIPAddr implements Lookuper.
func (c *Client) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, _, err := c.addrs(ctx, fqdn(host), nil)
	if err != nil {
		return nil, err
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, nil
}

// query sends one question over UDP, and again over TCP if the answer is truncated.
func (c *Client) query(ctx context.Context, name string, typ dnsmessage.Type) (*answer, error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("dns: %q: %w", name, err)
	}
	id := uint16(rand.Uint32())
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: n, Type: typ, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2)) // TCP length prefix, skipped for UDP
	resp, err := c.exchange(ctx, "udp", msg[2:], id)
	if err == nil && resp.Truncated {
		resp, err = c.exchange(ctx, "tcp", msg, id)
	}
	if err != nil {
		return nil, fmt.Errorf("dns: %s %s via %s: %w", typ, name, c.server, err)
	}
	return resp.answer, resp.err(name, typ)
}

type response struct {
	Truncated bool
	rcode     dnsmessage.RCode
	answer    *answer
}

func (r *response) err(name string, typ dnsmessage.Type) error {
	switch r.rcode {
	case dnsmessage.RCodeSuccess:
		return nil
	case dnsmessage.RCodeNameError:
		return fmt.Errorf("%w: %s %s", ErrNotFound, typ, name)
	}
	return fmt.Errorf("dns: %s %s: server answered %s", typ, name, r.rcode)
}

func (c *Client) exchange(ctx context.Context, network string, msg []byte, id uint16) (*response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	conn, err := c.dialer.DialContext(ctx, network, c.server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	var buf []byte
	if network == "udp" {
		buf = make([]byte, 65535)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return nil, err
			}
			if n >= 2 && binary.BigEndian.Uint16(buf) == id {
				buf = buf[:n]
				break
			}
		}
	} else {
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return nil, err
		}
		buf = make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return nil, err
		}
	}
	return parse(buf, id)
}

func parse(buf []byte, id uint16) (*response, error) {
	var p dnsmessage.Parser
	h, err := p.Start(buf)
	if err != nil {
		return nil, err
	}
	if h.ID != id || !h.Response {
		return nil, errors.New("mismatched DNS response")
	}
	r := &response{Truncated: h.Truncated, rcode: h.RCode, answer: &answer{ips: map[string][]net.IP{}, ttl: 1<<31 - 1}}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, err
	}
	read := func(hdr func() (dnsmessage.ResourceHeader, error), skip func() error, section string) error {
		for {
			rh, err := hdr()
			if errors.Is(err, dnsmessage.ErrSectionDone) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", section, err)
			}
			owner := strings.ToLower(rh.Name.String())
			switch rh.Type {
			case dnsmessage.TypeA:
				a, err := p.AResource()
				if err != nil {
					return err
				}
				r.answer.ips[owner] = append(r.answer.ips[owner], net.IP(slices.Clone(a.A[:])))
			case dnsmessage.TypeAAAA:
				a, err := p.AAAAResource()
				if err != nil {
					return err
				}
				r.answer.ips[owner] = append(r.answer.ips[owner], net.IP(slices.Clone(a.AAAA[:])))
			case dnsmessage.TypeSRV:
				s, err := p.SRVResource()
				if err != nil {
					return err
				}
				r.answer.srvs = append(r.answer.srvs, &net.SRV{Target: strings.ToLower(s.Target.String()), Port: s.Port, Priority: s.Priority, Weight: s.Weight})
			default:
				if err := skip(); err != nil {
					return err
				}
				continue
			}
			if section == "answer" {
				r.answer.ttl = min(r.answer.ttl, rh.TTL)
			}
		}
	}
	if err := read(p.AnswerHeader, p.SkipAnswer, "answer"); err != nil {
		return nil, err
	}
	if err := p.SkipAllAuthorities(); err != nil {
		return nil, err
	}
	if err := read(p.AdditionalHeader, p.SkipAdditional, "additional"); err != nil {
		return nil, err
	}
	return r, nil
}

// String describes the client for logs.
func (c *Client) String() string { return "dns client via " + c.server }
