package consul

import (
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
)

func TestSettingsFromEnvironment(t *testing.T) {
	r, err := env.ParseAsWithOptions[Registration](env.Options{Environment: map[string]string{
		"DISCOVERY_SERVICE_NAME": "cart", "DISCOVERY_SERVICE_PORT": "8082", "DISCOVERY_SERVICE_TAGS": "v1,blue",
		"DISCOVERY_SERVICE_META": "zone:a,team:shop", "DISCOVERY_CHECK": "http", "DISCOVERY_CHECK_INTERVAL": "2s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := Registration{Name: "cart", Port: 8082, Tags: []string{"v1", "blue"}, Meta: map[string]string{"zone": "a", "team": "shop"},
		Check: CheckHTTP, CheckInterval: 2 * time.Second} // unset variables stay zero: the default
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("Registration from env (-want +got):\n%s", d)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	w, err := env.ParseAsWithOptions[WatchSettings](env.Options{Environment: map[string]string{
		"DISCOVERY_CONSUL_SERVICES": "catalog,payment", "DISCOVERY_CONSUL_TAGS": "v1", "DISCOVERY_CONSUL_EMPTY": "accept",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(w.Services, []string{"catalog", "payment"}) || w.Empty != EmptyAccept || w.Wait != 0 || w.RetryMax != 0 {
		t.Errorf("WatchSettings from env = %+v", w)
	}
	if err := w.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}
