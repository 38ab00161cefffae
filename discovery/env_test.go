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
	if got.Policy != PolicyRoundRobin || got.EjectAfter != 3 || got.EjectBase != 10*time.Second ||
		got.MaxEjectedPercent != 20 || got.SlowStart != -time.Second || got.EjectMax != 5*time.Minute || got.Decay != 10*time.Second {
		t.Errorf("BalancerSettings from env = %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	defaults, err := env.ParseAsWithOptions[BalancerSettings](env.Options{Environment: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if (BalancerSettings{}).withDefaults().Policy != defaults.Policy || defaults.EjectAfter != 5 || defaults.SlowStart != 10*time.Second {
		t.Errorf("env defaults %+v disagree with the zero value's defaults", defaults)
	}
	s, err := env.ParseAsWithOptions[StaticSettings](env.Options{Environment: map[string]string{"DISCOVERY_STATIC": "a=127.0.0.1:1"}})
	if err != nil || s.Services != "a=127.0.0.1:1" || s.Validate() != nil {
		t.Errorf("StaticSettings from env = %+v, %v", s, err)
	}
}
