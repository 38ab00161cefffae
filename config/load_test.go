package config_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-go/gantry/config"
	"github.com/google/go-cmp/cmp"
)

type httpSettings struct {
	ReadTimeout time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"5s" desc:"Maximum time to read a request."`
	Port        int           `env:"HTTP_PORT" envDefault:"8080" desc:"TCP port."`
}

// Validate uses a value receiver on purpose: Load must find both kinds.
func (s httpSettings) Validate() error {
	var errs []error
	if s.ReadTimeout <= 0 {
		errs = append(errs, config.Invalid("HTTP_READ_TIMEOUT", "must be positive, got %v", s.ReadTimeout))
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, config.Invalid("HTTP_PORT", "must be in 1..65535, got %d", s.Port))
	}
	return errors.Join(errs...)
}

type consulSettings struct {
	Addr  string `env:"CONSUL_HTTP_ADDR" envDefault:"127.0.0.1:8500" desc:"Consul agent address."`
	Token string `env:"CONSUL_HTTP_TOKEN" secret:"true" desc:"Consul ACL token."`
}

type svcSettings struct {
	Name   string          `env:"SERVICE_NAME,required" desc:"Service name."`
	HTTP   httpSettings    // no prefix
	Admin  httpSettings    `envPrefix:"ADMIN_"`
	Consul *consulSettings // nil: Load leaves it alone
	Tags   []string        `env:"TAGS" envDefault:"a,b"`
	Ratio  float64         `env:"RATIO" envDefault:"0.5"`
}

func (s *svcSettings) Validate() error {
	if s.Ratio < 0 || s.Ratio > 1 {
		return config.Invalid("RATIO", "must be in [0, 1], got %v", s.Ratio)
	}
	return nil
}

type withConsul struct {
	Consul consulSettings
}

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want svcSettings
	}{
		{
			name: "defaults",
			env:  map[string]string{"SERVICE_NAME": "cart"},
			want: svcSettings{Name: "cart", HTTP: httpSettings{5 * time.Second, 8080}, Admin: httpSettings{5 * time.Second, 8080}, Tags: []string{"a", "b"}, Ratio: 0.5},
		},
		{
			name: "overrides and prefix",
			env:  map[string]string{"SERVICE_NAME": "cart", "HTTP_READ_TIMEOUT": "2s", "ADMIN_HTTP_PORT": "9090", "TAGS": "x", "RATIO": "1"},
			want: svcSettings{Name: "cart", HTTP: httpSettings{2 * time.Second, 8080}, Admin: httpSettings{5 * time.Second, 9090}, Tags: []string{"x"}, Ratio: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load[svcSettings](config.WithEnvironment(tt.env))
			if err != nil {
				t.Fatalf("Load(%v) error = %v", tt.env, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load(%v) mismatch (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

func TestLoadErrorsNameEveryBadVariable(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantVars []string
		wantMsg  []string
	}{
		{
			name:     "parse error names the variable",
			env:      map[string]string{"SERVICE_NAME": "x", "HTTP_READ_TIMEOUT": "abc"},
			wantVars: []string{"HTTP_READ_TIMEOUT"},
			wantMsg:  []string{`HTTP_READ_TIMEOUT: cannot parse "abc" as time.Duration`},
		},
		{
			name:     "same field name in two prefixed structs: only the bad one is named",
			env:      map[string]string{"SERVICE_NAME": "x", "HTTP_READ_TIMEOUT": "1s", "ADMIN_HTTP_READ_TIMEOUT": "abc"},
			wantVars: []string{"ADMIN_HTTP_READ_TIMEOUT"},
		},
		{
			name: "every problem at once: required, parse, validate (nested, prefixed) and top-level validate",
			env: map[string]string{
				"HTTP_PORT": "http", "ADMIN_HTTP_READ_TIMEOUT": "-1s", "ADMIN_HTTP_PORT": "70000", "RATIO": "2",
			},
			wantVars: []string{"SERVICE_NAME", "HTTP_PORT", "RATIO", "ADMIN_HTTP_READ_TIMEOUT", "ADMIN_HTTP_PORT"},
			wantMsg:  []string{"5 problems", "SERVICE_NAME: required but not set", "ADMIN_HTTP_PORT: must be in 1..65535, got 70000", "RATIO: must be in [0, 1], got 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load[svcSettings](config.WithEnvironment(tt.env))
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Load(%v) error = %v, want ErrInvalid", tt.env, err)
			}
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load(%v) error %T is not *config.Error", tt.env, err)
			}
			if diff := cmp.Diff(tt.wantVars, cerr.Vars()); diff != "" {
				t.Errorf("Load(%v) bad vars mismatch (-want +got):\n%s\nerror: %v", tt.env, diff, err)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Load(%v) error = %q, want it to contain %q", tt.env, err, m)
				}
			}
		})
	}
}

func TestLoadSecretFile(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantToken string
		wantVar   string // bad variable, when an error is expected
	}{
		{name: "plain variable", env: map[string]string{"CONSUL_HTTP_TOKEN": "abc"}, wantToken: "abc"},
		{name: "from _FILE, trailing newline removed", env: map[string]string{"CONSUL_HTTP_TOKEN_FILE": tokenFile}, wantToken: "s3cr3t-token"},
		{name: "both set", env: map[string]string{"CONSUL_HTTP_TOKEN": "abc", "CONSUL_HTTP_TOKEN_FILE": tokenFile}, wantVar: "CONSUL_HTTP_TOKEN_FILE"},
		{name: "missing file", env: map[string]string{"CONSUL_HTTP_TOKEN_FILE": filepath.Join(dir, "nope")}, wantVar: "CONSUL_HTTP_TOKEN_FILE"},
		{name: "unset", env: map[string]string{}, wantToken: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load[withConsul](config.WithEnvironment(tt.env))
			if tt.wantVar != "" {
				var cerr *config.Error
				if !errors.As(err, &cerr) || !cmp.Equal(cerr.Vars(), []string{tt.wantVar}) {
					t.Fatalf("Load(%v) error = %v, want one problem naming %s", tt.env, err, tt.wantVar)
				}
				if strings.Contains(err.Error(), "abc") {
					t.Errorf("Load(%v) error = %q quotes the secret", tt.env, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%v) error = %v", tt.env, err)
			}
			if got.Consul.Token != tt.wantToken {
				t.Errorf("Load(%v).Consul.Token = %q, want %q", tt.env, got.Consul.Token, tt.wantToken)
			}
		})
	}
}

type secretInt struct {
	PIN int `env:"PIN" secret:"true"`
}

func TestParseErrorOfSecretDoesNotQuoteIt(t *testing.T) {
	_, err := config.Load[secretInt](config.WithEnvironment(map[string]string{"PIN": "hunter2"}))
	if err == nil || !strings.Contains(err.Error(), "PIN") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Load(PIN=hunter2) error = %v, want it to name PIN without quoting the value", err)
	}
}

func TestDescribeRedactsSecrets(t *testing.T) {
	cfg, err := config.Load[withConsul](config.WithEnvironment(map[string]string{"CONSUL_HTTP_TOKEN": "s3cr3t"}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := config.Describe(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "CONSUL_HTTP_ADDR=127.0.0.1:8500\nCONSUL_HTTP_TOKEN=[redacted]\n"
	if got := d.String(); got != want {
		t.Errorf("Describe(cfg).String() = %q, want %q", got, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", d)
	if strings.Contains(buf.String(), "s3cr3t") || !strings.Contains(buf.String(), `"CONSUL_HTTP_TOKEN":"[redacted]"`) {
		t.Errorf("logged dump = %s, want the token redacted", buf.String())
	}
}

func TestDescribeValuesAndPrefix(t *testing.T) {
	cfg := svcSettings{Name: "cart", HTTP: httpSettings{time.Second, 80}, Tags: []string{"a", "b"}, Consul: &consulSettings{Addr: "c:8500"}}
	d, err := config.Describe(&cfg, config.WithPrefix("APP_"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range d {
		got[v.Name] = v.Value
	}
	want := map[string]string{
		"APP_SERVICE_NAME": "cart", "APP_HTTP_READ_TIMEOUT": "1s", "APP_HTTP_PORT": "80",
		"APP_ADMIN_HTTP_READ_TIMEOUT": "0s", "APP_ADMIN_HTTP_PORT": "0",
		"APP_CONSUL_HTTP_ADDR": "c:8500", "APP_CONSUL_HTTP_TOKEN": "", "APP_TAGS": "a,b", "APP_RATIO": "0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Describe(cfg) values mismatch (-want +got):\n%s", diff)
	}
	if _, err := config.Describe(42); err == nil {
		t.Errorf("Describe(42) error = nil, want an error")
	}
}

func TestLoadWithPrefix(t *testing.T) {
	got, err := config.Load[httpSettings](config.WithPrefix("CART_"), config.WithEnvironment(map[string]string{"CART_HTTP_PORT": "0"}))
	var cerr *config.Error
	if !errors.As(err, &cerr) || !cmp.Equal(cerr.Vars(), []string{"CART_HTTP_PORT"}) {
		t.Errorf("Load(CART_HTTP_PORT=0) = %v, %v; want an error naming CART_HTTP_PORT", got, err)
	}
}

func TestLoadNeedsStruct(t *testing.T) {
	if _, err := config.Load[int](config.WithEnvironment(map[string]string{})); err == nil {
		t.Errorf("Load[int]() error = nil, want an error")
	}
}

func TestLoadDropsDuplicateProblems(t *testing.T) {
	type twice struct{ P httpSettings }
	// httpSettings.Validate is reached once through twice.P; no duplicates.
	_, err := config.Load[twice](config.WithEnvironment(map[string]string{"HTTP_PORT": "0"}))
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
		t.Errorf("Load(HTTP_PORT=0) = %v, want exactly one problem", err)
	}
}

func TestMarkdown(t *testing.T) {
	d, err := config.Describe(withConsul{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := d.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	want := "| Variable | Default | Description |\n|---|---|---|\n" +
		"| `CONSUL_HTTP_ADDR` | `127.0.0.1:8500` | Consul agent address. |\n" +
		"| `CONSUL_HTTP_TOKEN` |  | Consul ACL token. Secret: never logged; may be read from the file named by `CONSUL_HTTP_TOKEN_FILE`. |\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("Markdown mismatch (-want +got):\n%s", diff)
	}
}

type node struct {
	Name        string `env:"NODE_NAME" envDefault:"n"`
	Left, Right *node
}

func TestRecursiveTypesEnd(t *testing.T) {
	cfg, err := config.Load[node](config.WithEnvironment(map[string]string{}))
	if err != nil || cfg.Name != "n" {
		t.Fatalf("Load[node]() = %+v, %v", cfg, err)
	}
	cfg.Left = &node{Name: "l"}
	cfg.Left.Right = &cfg // a cycle
	d, err := config.Describe(&cfg)
	if err != nil || len(d) != 1 || d[0].Name != "NODE_NAME" {
		t.Errorf("Describe(cyclic) = %v, %v; want only NODE_NAME", d, err)
	}
}

var errWindow = errors.New("bad window")

type window struct {
	Min time.Duration `env:"MIN"`
	Max time.Duration `env:"MAX"`
}

// Validate is a cross-field check: its message names MIN, the other side.
func (w window) Validate() error {
	if w.Max < w.Min {
		return config.Invalid("MAX", "%w: %v is below MIN %v, the MINIMUM", errWindow, w.Max, w.Min)
	}
	return nil
}

type windows struct {
	A window  `envPrefix:"A_"`
	B *window `envPrefix:"B_"`
}

func TestPrefixReachesTheOtherVariablesAMessageNames(t *testing.T) {
	_, err := config.Load[windows](config.WithPrefix("X_"), config.WithEnvironment(map[string]string{"X_A_MIN": "2s", "X_A_MAX": "1s"}))
	want := "X_A_MAX: bad window: 1s is below X_A_MIN 2s, the MINIMUM"
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0].Error() != want {
		t.Fatalf("Load() error = %v, want the one problem %q", err, want)
	}
	if !errors.Is(err, errWindow) {
		t.Errorf("Load() error = %v, want it to wrap what Validate wrapped", err)
	}
}

func TestValidateWalksLikeLoad(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want []string // problems; nil means valid
	}{
		{name: "valid", in: windows{A: window{Min: 1, Max: 2}}},
		{name: "nested by value", in: windows{A: window{Min: 2 * time.Second, Max: time.Second}},
			want: []string{"A_MAX: bad window: 1s is below A_MIN 2s, the MINIMUM"}},
		{name: "nested pointer", in: &windows{B: &window{Min: 2 * time.Second, Max: time.Second}},
			want: []string{"B_MAX: bad window: 1s is below B_MIN 2s, the MINIMUM"}},
		{name: "no prefix at the top", in: window{Min: 2 * time.Second, Max: time.Second},
			want: []string{"MAX: bad window: 1s is below MIN 2s, the MINIMUM"}},
		{name: "pointer receiver found on a value", in: svcSettings{Ratio: 2, HTTP: httpSettings{time.Second, 80}, Admin: httpSettings{time.Second, 0}},
			want: []string{"RATIO: must be in [0, 1], got 2", "ADMIN_HTTP_PORT: must be in 1..65535, got 0"}},
		{name: "duplicates dropped", in: struct{ P, Q window }{P: window{Min: 2, Max: 1}, Q: window{Min: 2, Max: 1}},
			want: []string{"MAX: bad window: 1ns is below MIN 2ns, the MINIMUM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := config.Validate(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.in, err)
				}
				return
			}
			var cerr *config.Error
			if !errors.Is(err, config.ErrInvalid) || !errors.As(err, &cerr) {
				t.Fatalf("Validate(%+v) = %v, want a *config.Error", tt.in, err)
			}
			var got []string
			for _, p := range cerr.Problems {
				got = append(got, p.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate(%+v) problems (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if err := config.Validate(42); err == nil || errors.Is(err, config.ErrInvalid) {
		t.Errorf("Validate(42) = %v, want a usage error, not ErrInvalid", err)
	}
}
