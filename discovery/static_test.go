package discovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatic(t *testing.T) {
	got, err := ParseStatic(" catalog=http://127.0.0.1:8081 ; payment=http://127.0.0.1:8083,https://[::1]:9083,10.0.0.1:80;")
	if err != nil {
		t.Fatalf("ParseStatic() error = %v", err)
	}
	want := map[string][]Instance{
		"catalog": {{ID: "http://127.0.0.1:8081", Address: "127.0.0.1:8081", Scheme: "http"}},
		"payment": {
			{ID: "http://127.0.0.1:8083", Address: "127.0.0.1:8083", Scheme: "http"},
			{ID: "https://[::1]:9083", Address: "[::1]:9083", Scheme: "https"},
			{ID: "10.0.0.1:80", Address: "10.0.0.1:80"},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ParseStatic() mismatch (-want +got):\n%s", d)
	}
	if got, err := ParseStatic(""); err != nil || len(got) != 0 {
		t.Errorf("ParseStatic(\"\") = %v, %v; want empty, nil", got, err)
	}
}

func TestParseStaticRejectsBadInput(t *testing.T) {
	for _, in := range []string{
		"catalog",                               // no =
		"=127.0.0.1:80",                         // no name
		"cat.alog=127.0.0.1:80",                 // not a bare name
		"catalog=127.0.0.1",                     // no port
		"catalog=127.0.0.1:0",                   // bad port
		"catalog=127.0.0.1:http",                // bad port
		"catalog=ftp://127.0.0.1:21",            // bad scheme
		"catalog=http://127.0.0.1:80/path",      // path
		"catalog=1.1.1.1:80;catalog=2.2.2.2:80", // duplicate
		"catalog=",                              // empty address
	} {
		_, err := ParseStatic(in)
		if !errors.Is(err, ErrInvalidStatic) || !strings.Contains(err.Error(), "DISCOVERY_STATIC") {
			t.Errorf("ParseStatic(%q) error = %v, want ErrInvalidStatic naming DISCOVERY_STATIC", in, err)
		}
	}
	if err := (StaticSettings{Services: "x"}).Validate(); !errors.Is(err, ErrInvalidStatic) {
		t.Errorf("StaticSettings.Validate() = %v, want ErrInvalidStatic", err)
	}
}

func TestBalancerSettingsValidate(t *testing.T) {
	if err := (BalancerSettings{}).Validate(); err != nil {
		t.Errorf("zero BalancerSettings.Validate() = %v, want nil", err)
	}
	bad := BalancerSettings{Policy: "random", MaxEjectedPercent: 101, EjectBase: -1, EjectMax: time.Second, FailurePenalty: -1, Decay: -1}
	err := bad.Validate()
	for _, v := range []string{"BALANCER_POLICY", "BALANCER_MAX_EJECTED_PERCENT", "BALANCER_EJECT_BASE", "BALANCER_FAILURE_PENALTY", "BALANCER_EWMA_DECAY"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("Validate() = %v, want it to name %s", err, v)
		}
	}
	if err := (BalancerSettings{EjectBase: time.Minute, EjectMax: time.Second}).Validate(); err == nil || !strings.Contains(err.Error(), "BALANCER_EJECT_MAX") {
		t.Errorf("Validate(max < base) = %v, want an error naming BALANCER_EJECT_MAX", err)
	}
}

func TestStaticUnknownService(t *testing.T) {
	s := NewStatic(map[string][]Instance{"a": instances("1.1.1.1:1")})
	if _, err := s.Lookup("b"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Lookup(b) error = %v, want ErrUnknownService", err)
	}
	if got := s.Services(); !cmp.Equal(got, []string{"a"}) {
		t.Errorf("Services() = %v, want [a]", got)
	}
}
