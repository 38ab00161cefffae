package gateway

import (
	"errors"
	"math"
	"net/http"
	"strings"

	"github.com/gantry-go/gantry/config"
	"github.com/gantry-go/gantry/observability"
	"github.com/gantry-go/gantry/resilience"
	"github.com/gantry-go/gantry/transport/auth"
)

// Defaults of LimitSettings. A user of the shop browses at a few requests per second
// and checks out a few times an hour; the load generator's single demo user makes
// about 30 requests and 10 checkouts per second.
const (
	defaultUserRate      = 50
	defaultUserBurst     = 100
	defaultCheckoutRate  = 1
	defaultCheckoutBurst = 5
)

// LimitSettings are the gateway's rate limits per user and per route, on top of the
// limit per client address (RATELIMIT_*). The zero value takes the defaults; a
// negative rate turns that limit off. It is a plain value, read once by NewLimits.
type LimitSettings struct {
	// UserRate is the requests per second of one authenticated user (the verified
	// token's subject), over all routes and all the user's addresses. Default 50.
	UserRate float64 `env:"GATEWAY_USER_RATE" desc:"Requests per second of one authenticated user, over all routes; negative: no limit."`
	// UserBurst is the user's bucket size. Default 100.
	UserBurst int `env:"GATEWAY_USER_BURST" desc:"Bucket size of GATEWAY_USER_RATE."`
	// CheckoutRate is the checkouts (POST /api/carts/{id}/checkout) per second of one
	// user, or of one client address when the request is anonymous (GATEWAY_AUTH=off).
	// Default 1.
	CheckoutRate float64 `env:"GATEWAY_CHECKOUT_RATE" desc:"Checkouts per second of one user (of one client address when anonymous); negative: no limit."`
	// CheckoutBurst is the checkout bucket size. Default 5.
	CheckoutBurst int `env:"GATEWAY_CHECKOUT_BURST" desc:"Bucket size of GATEWAY_CHECKOUT_RATE."`
}

// Validate reports a NaN rate and a negative burst, naming their variables.
func (s LimitSettings) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"GATEWAY_USER_RATE", s.UserRate}, {"GATEWAY_CHECKOUT_RATE", s.CheckoutRate}} {
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, config.Invalid(r.name, "must be a number, got %v", r.v))
		}
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"GATEWAY_USER_BURST", s.UserBurst}, {"GATEWAY_CHECKOUT_BURST", s.CheckoutBurst}} {
		if b.v < 0 {
			errs = append(errs, config.Invalid(b.name, "must not be negative, got %d", b.v))
		}
	}
	return errors.Join(errs...)
}

func (s LimitSettings) withDefaults() LimitSettings {
	if s.UserRate == 0 {
		s.UserRate = defaultUserRate
	}
	if s.UserBurst == 0 {
		s.UserBurst = defaultUserBurst
	}
	if s.CheckoutRate == 0 {
		s.CheckoutRate = defaultCheckoutRate
	}
	if s.CheckoutBurst == 0 {
		s.CheckoutBurst = defaultCheckoutBurst
	}
	return s
}

// Limits are the gateway's per-user and per-route rate limiters. Each rejection is a
// 429 problem+json with Retry-After, counted as resilience.rejections with
// resilience.name gateway-users or gateway-checkout. Build it with NewLimits; it is
// safe for concurrent use.
type Limits struct {
	// User limits each authenticated user; nil when off.
	User *resilience.RateLimiter
	// Checkout limits each user's (or anonymous client's) checkouts; nil when off.
	Checkout *resilience.RateLimiter
}

// NewLimits returns the limiters s configures. client keys anonymous checkouts, as
// the per-client limit does (nil: resilience.KeyByClientIP). It fails when s is
// invalid, naming the variables.
func NewLimits(s LimitSettings, client resilience.KeyFunc, inst observability.Instrumentation) (*Limits, error) {
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	if client == nil {
		client = resilience.KeyByClientIP
	}
	s = s.withDefaults()
	l := &Limits{}
	if s.UserRate > 0 {
		l.User = resilience.NewRateLimiter("gateway-users",
			resilience.RateLimitSettings{KeyRate: s.UserRate, KeyBurst: s.UserBurst}, KeyByUser(client), inst)
	}
	if s.CheckoutRate > 0 {
		l.Checkout = resilience.NewRateLimiter("gateway-checkout",
			resilience.RateLimitSettings{KeyRate: s.CheckoutRate, KeyBurst: s.CheckoutBurst}, KeyByUser(client), inst)
	}
	return l, nil
}

var _ resilience.Inspectable = (*Limits)(nil)

// Inspect adds the state of the limiters that are on, for resilience.DebugHandler.
func (l *Limits) Inspect(snap *resilience.Snapshot) {
	for _, r := range []*resilience.RateLimiter{l.User, l.Checkout} {
		if r != nil {
			r.Inspect(snap)
		}
	}
}

// Server returns the middleware that applies the limits: the user limit to every
// request with a verified principal, the checkout limit to checkouts. Put it after
// Authenticate, which puts the principal on the context; anonymous requests other
// than checkouts pass (the per-client limit covers them).
func (l *Limits) Server() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		checkout := next
		if l.Checkout != nil {
			checkout = l.Checkout.Server()(next)
		}
		route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if IsCheckout(r) {
				checkout.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
		if l.User == nil {
			return route
		}
		user := l.User.Server()(route)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := auth.FromContext(r.Context()); ok {
				user.ServeHTTP(w, r)
				return
			}
			route.ServeHTTP(w, r)
		})
	}
}

// IsCheckout reports whether r is a checkout: POST /api/carts/{id}/checkout.
func IsCheckout(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/api/carts/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, "/checkout")
	return ok && id != "" && !strings.Contains(id, "/")
}

// KeyByUser returns a KeyFunc that keys by the verified principal's subject
// ("user:" and the subject), and an anonymous request by client ("client:" and its
// key), so that a user keeps one bucket from every address and no subject can take
// an address's bucket.
func KeyByUser(client resilience.KeyFunc) resilience.KeyFunc {
	return func(r *http.Request) string {
		if p, ok := auth.FromContext(r.Context()); ok {
			return "user:" + p.Subject
		}
		return "client:" + client(r)
	}
}
