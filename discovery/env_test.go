package discovery

import (
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

// The env tags configure a Balancer exactly like code does.
func TestBalancerSettingsFromEnvironment(t *testing.T) {
	got, err := env.ParseAsWithOptions[BalancerSettings](env.Options{Environment: map[string]string{
		"BALANCER_POLICY": "round_robin", "BALANCER_EJECT_AFTER": "3", "BALANCER_EJECT_BASE": "10s",
		"BALANCER_MAX_EJECTED_PERCENT": "20", "BALANCER_SLOW_START": "-1s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Unset variables stay zero, which means the default (see TestDocumentedDefaults).
	want := BalancerSettings{Policy: PolicyRoundRobin, EjectAfter: 3, EjectBase: 10 * time.Second, MaxEjectedPercent: 20, SlowStart: -time.Second}
	if got != want {
		t.Errorf("BalancerSettings from env = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	s, err := env.ParseAsWithOptions[StaticSettings](env.Options{Environment: map[string]string{"DISCOVERY_STATIC": "a=127.0.0.1:1"}})
	if err != nil || s.Services != "a=127.0.0.1:1" || s.Validate() != nil {
		t.Errorf("StaticSettings from env = %+v, %v", s, err)
	}
}
