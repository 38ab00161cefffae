package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/gantry-go/gantry/config"
)

// Modes of [Settings.Mode].
const (
	// ModeOff serves and calls without TLS: [NewSource] returns a nil Source.
	ModeOff = "off"
	// ModeDev issues certificates from an in-memory [DevCA].
	ModeDev = "dev"
	// ModeFiles reads certificates from files and reloads them when they change
	// ([Files]).
	ModeFiles = "files"
	// ModeConsul takes certificates from Consul's built-in CA. This package cannot
	// build that Source (it would depend on Consul): [NewSource] refuses it with
	// [ErrExternalSource], and discovery/consul's NewCASource builds it.
	ModeConsul = "consul"
)

// ErrExternalSource is NewSource's answer for a mode whose Source another package
// builds (ModeConsul).
var ErrExternalSource = errors.New("identity: this TLS_MODE's source is built outside the identity package")

// Default values of Settings, used for zero fields.
const (
	defaultMode           = ModeOff
	defaultTrustDomain    = "gantry.test"
	defaultNamespace      = "default"
	defaultReloadInterval = 10 * time.Second
	defaultDevCertTTL     = time.Hour
)

// Settings configures [NewSource] and [NewFiles]. The zero value works (mode off):
// every zero field takes the default documented on it. It is a plain value, read
// once at construction, and safe to share.
type Settings struct {
	// Mode is where certificates come from: "off", "dev", "files" or "consul"
	// (Consul's CA, built by discovery/consul). Default off.
	Mode string `env:"TLS_MODE"`
	// CertFile is the PEM certificate chain, leaf first (tls.crt of a Kubernetes
	// TLS Secret or cert-manager Certificate). Required in files mode.
	CertFile string `env:"TLS_CERT_FILE"`
	// KeyFile is the PEM private key of the leaf (tls.key). Required in files mode.
	KeyFile string `env:"TLS_KEY_FILE"`
	// CAFile is the PEM trust bundle that peers' certificates are verified against
	// (ca.crt). Required in files mode.
	CAFile string `env:"TLS_CA_FILE"`
	// ReloadInterval is how often the files are read and, when their content
	// changed, reloaded. Default 10s.
	ReloadInterval time.Duration `env:"TLS_RELOAD_INTERVAL"`
	// TrustDomain is the trust domain of the development CA that dev mode creates
	// (a given DevCA keeps its own), and in files mode, when set, the trust domain
	// the certificate must be in. Default "gantry.test" (in dev mode).
	TrustDomain string `env:"TLS_TRUST_DOMAIN"`
	// Namespace is the namespace of the SPIFFE ID dev mode issues. Default "default".
	Namespace string `env:"TLS_NAMESPACE"`
	// DevCertTTL is the lifetime of dev mode's certificates, renewed at half of it.
	// Default 1h.
	DevCertTTL time.Duration `env:"TLS_DEV_CERT_TTL"`
	// DevCA is the CA dev mode issues from. Nil means a new one per NewSource call,
	// trusted by that Source alone: share one DevCA among the services of a process.
	DevCA *DevCA `env:"-"`
	// Logger receives reloads and reload failures; nil discards them.
	Logger *slog.Logger `env:"-"`
	// MeterProvider receives identity.certificate.reload.errors; nil means no
	// metrics.
	MeterProvider metric.MeterProvider `env:"-"`
}

// Validate reports every invalid field at once, each naming its variable.
func (s Settings) Validate() error {
	var errs []error
	switch s.Mode {
	case "", ModeOff, ModeDev, ModeConsul:
	case ModeFiles:
		errs = append(errs, s.requireFiles()...)
	default:
		errs = append(errs, config.Invalid("TLS_MODE", "%q is not %q, %q, %q or %q", s.Mode, ModeOff, ModeDev, ModeFiles, ModeConsul))
	}
	if s.TrustDomain != "" {
		if why := checkTrustDomain(s.TrustDomain); why != "" {
			errs = append(errs, config.Invalid("TLS_TRUST_DOMAIN", "%q: %s", s.TrustDomain, why))
		}
	}
	if s.Namespace != "" {
		if why := checkSegment(s.Namespace); why != "" {
			errs = append(errs, config.Invalid("TLS_NAMESPACE", "%q: %s", s.Namespace, why))
		}
	}
	if s.ReloadInterval < 0 {
		errs = append(errs, config.Invalid("TLS_RELOAD_INTERVAL", "%v is negative", s.ReloadInterval))
	}
	if s.DevCertTTL < 0 {
		errs = append(errs, config.Invalid("TLS_DEV_CERT_TTL", "%v is negative", s.DevCertTTL))
	}
	return errors.Join(errs...)
}

func (s Settings) requireFiles() []error {
	var errs []error
	for _, f := range [...]struct{ name, v string }{
		{"TLS_CERT_FILE", s.CertFile}, {"TLS_KEY_FILE", s.KeyFile}, {"TLS_CA_FILE", s.CAFile},
	} {
		if f.v == "" {
			errs = append(errs, config.Invalid(f.name, "required in files mode (TLS_MODE=files)"))
		}
	}
	return errs
}

func (s Settings) withDefaults() Settings {
	if s.Mode == "" {
		s.Mode = defaultMode
	}
	if s.Namespace == "" {
		s.Namespace = defaultNamespace
	}
	if s.ReloadInterval == 0 {
		s.ReloadInterval = defaultReloadInterval
	}
	if s.DevCertTTL == 0 {
		s.DevCertTTL = defaultDevCertTTL
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// devTrustDomain is the trust domain of dev mode.
func (s Settings) devTrustDomain() string {
	if s.TrustDomain == "" {
		return defaultTrustDomain
	}
	return s.TrustDomain
}

// NewSource returns the Source that s.Mode selects for the workload service: nil
// for off; for dev, a [*DevSource] for spiffe://<TLS_TRUST_DOMAIN>/ns/<TLS_NAMESPACE>/svc/<service>
// issued by s.DevCA (or a new CA); for files, a [*Files] (a Runner: give it to
// gantry.Run to reload). Errors are a *config.Error naming each bad variable.
func NewSource(s Settings, service string) (Source, error) {
	if err := config.Validate(s); err != nil {
		return nil, err
	}
	d := s.withDefaults()
	switch d.Mode {
	case ModeDev:
		ca := d.DevCA
		if ca == nil {
			var err error
			if ca, err = NewDevCA(d.devTrustDomain()); err != nil {
				return nil, err
			}
		}
		id, err := NewID(ca.TrustDomain(), d.Namespace, service)
		if err != nil {
			return nil, err
		}
		return ca.Source(id, d.DevCertTTL)
	case ModeFiles:
		return NewFiles(s, service)
	case ModeConsul:
		return nil, fmt.Errorf("%w: TLS_MODE %s (use discovery/consul.NewCASource)", ErrExternalSource, ModeConsul)
	}
	return nil, nil //nolint:nilnil // off: no Source, as documented
}
