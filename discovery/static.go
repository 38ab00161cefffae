package discovery

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-go/gantry/config"
)

// StaticSettings configures a Static resolver from the environment.
type StaticSettings struct {
	// Services lists services and their instances:
	// "catalog=http://127.0.0.1:8081;payment=http://127.0.0.1:8083,http://127.0.0.1:9083".
	// Services are separated by ";", instances by ","; an instance is a URL with an
	// http or https scheme, or a bare host:port. Empty means no services.
	Services string `env:"DISCOVERY_STATIC"`
}

// Validate reports a malformed DISCOVERY_STATIC value.
func (s StaticSettings) Validate() error {
	_, err := ParseStatic(s.Services)
	return err
}

// ParseStatic parses a DISCOVERY_STATIC value (see StaticSettings). Errors are
// *config.FieldErrors naming the variable and the offending entry, and wrap
// ErrInvalidStatic.
func ParseStatic(s string) (map[string][]Instance, error) {
	out := map[string][]Instance{}
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, list, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, ".:/ ") {
			return nil, config.Invalid("DISCOVERY_STATIC", "%w: entry %q: want name=address[,address...] with a bare service name", ErrInvalidStatic, entry)
		}
		if _, dup := out[name]; dup {
			return nil, config.Invalid("DISCOVERY_STATIC", "%w: service %q listed twice", ErrInvalidStatic, name)
		}
		var ins []Instance
		for a := range strings.SplitSeq(list, ",") {
			in, err := parseStaticAddr(strings.TrimSpace(a))
			if err != nil {
				return nil, config.Invalid("DISCOVERY_STATIC", "%w: service %q: %v", ErrInvalidStatic, name, err)
			}
			if slices.ContainsFunc(ins, func(x Instance) bool { return x.ID == in.ID }) {
				continue
			}
			ins = append(ins, in)
		}
		out[name] = ins
	}
	return out, nil
}

func parseStaticAddr(a string) (Instance, error) {
	var in Instance
	hostport := a
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil {
			return in, fmt.Errorf("address %q: %v", a, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return in, fmt.Errorf("address %q: scheme must be http or https", a)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
			return in, fmt.Errorf("address %q: want scheme://host:port with no path", a)
		}
		in.Scheme, hostport = u.Scheme, u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return in, fmt.Errorf("address %q: want host:port", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return in, fmt.Errorf("address %q: port must be 1-65535", a)
	}
	in.Address = net.JoinHostPort(host, port)
	in.ID = in.Address
	if in.Scheme != "" {
		in.ID = in.Scheme + "://" + in.Address
	}
	return in, nil
}

// Static is a Resolver over a fixed list of instances, typically parsed from
// DISCOVERY_STATIC. Its feeds never change. It is safe for concurrent use.
type Static struct {
	feeds Feeds
}

var _ Resolver = (*Static)(nil)

// NewStatic returns a resolver for services. It copies the map.
func NewStatic(services map[string][]Instance) *Static {
	s := &Static{feeds: make(Feeds, len(services))}
	now := time.Now()
	for name, ins := range services {
		f := NewFeed(name)
		f.Update(Snapshot{Instances: slices.Clone(ins), Updated: now})
		s.feeds[name] = f
	}
	return s
}

// Lookup returns the feed of service, or an error wrapping ErrUnknownService.
func (s *Static) Lookup(service string) (*Feed, error) { return s.feeds.Lookup(service) }

// Services returns the configured service names, sorted.
func (s *Static) Services() []string { return s.feeds.Services() }
