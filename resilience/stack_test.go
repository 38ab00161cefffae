package resilience

import (
	"encoding/json"
	"errors"
	"github.com/gantry-go/gantry/observability"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-go/gantry/transport"
)

func TestClientSettingsFromEnvironment(t *testing.T) {
	s, err := env.ParseAsWithOptions[ClientSettings](env.Options{Environment: map[string]string{
		"RETRY_MAX_ATTEMPTS":     "2",
		"BREAKER_OPEN_TIMEOUT":   "30s",
		"CLIENT_RATELIMIT_RATE":  "100",
		"CLIENT_ATTEMPT_TIMEOUT": "300ms",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Unset variables stay zero, which means the default (TestDocumentedDefaults
	// checks that the defaults are the documented ones).
	want := ClientSettings{Retry: RetrySettings{MaxAttempts: 2}, Breaker: BreakerSettings{OpenTimeout: 30 * time.Second},
		RateLimit: RateLimitSettings{Rate: 100}, AttemptTimeout: 300 * time.Millisecond}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("ParseAs mismatch (-want +got):\n%s", diff)
	}
}

func TestClientSettingsRejectUnsafeCombinations(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    ClientSettings
		want []string // variables the error must name; nil means valid
	}{
		{"defaults", ClientSettings{}, nil},
		{"attempts x timeout over deadline", ClientSettings{AttemptTimeout: time.Second, RequestTimeout: 2 * time.Second},
			[]string{"RETRY_MAX_ATTEMPTS", "CLIENT_ATTEMPT_TIMEOUT", "CLIENT_REQUEST_TIMEOUT"}},
		{"attempt over request", ClientSettings{AttemptTimeout: 3 * time.Second}, []string{"CLIENT_ATTEMPT_TIMEOUT", "CLIENT_REQUEST_TIMEOUT"}},
		{"budget off", ClientSettings{Retry: RetrySettings{BudgetDisabled: true}}, []string{"RETRY_BUDGET_DISABLED"}},
		{"bad ratio", ClientSettings{Breaker: BreakerSettings{FailureRatio: 2}}, []string{"BREAKER_FAILURE_RATIO"}},
		{"timeouts off", ClientSettings{AttemptTimeout: -1, RequestTimeout: -1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClientStack("x", tc.s, observability.Instrumentation{})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("NewClientStack(%+v) = %v, want nil", tc.s, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClientStack(%+v) = nil, want an error naming %v", tc.s, tc.want)
			}
			for _, v := range tc.want {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("NewClientStack() = %v, want it to name %s", err, v)
				}
			}
		})
	}
}

func TestClientStackAndDebugHandler(t *testing.T) {
	hits := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer up.Close()
	stack, err := NewClientStack("payment", ClientSettings{Retry: RetrySettings{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}}, observability.Instrumentation{})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: transport.ClientChain(stack.Middleware(), transport.PropagateDeadline())(http.DefaultTransport)}
	var lastErr error
	for range 6 {
		resp, err := client.Get(up.URL)
		if err == nil {
			resp.Body.Close()
		}
		lastErr = err
	}
	// 5 consecutive failures (the first request and its retries, within budget) open
	// the breaker; later requests fail fast with ErrOpen.
	if !errors.Is(lastErr, ErrOpen) {
		t.Fatalf("last request = %v, want ErrOpen", lastErr)
	}
	if hits != 5 {
		t.Fatalf("upstream hits = %d, want 5 (the breaker opens on the 5th consecutive failure)", hits)
	}

	limiter := NewRateLimiter("catalog", RateLimitSettings{Rate: 10}, nil, observability.Instrumentation{})
	shedder := NewShedder("catalog", ShedSettings{}, observability.Instrumentation{})
	rec := httptest.NewRecorder()
	DebugHandler(stack, limiter, shedder).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/resilience", nil))
	var snap Snapshot
	if err := json.Unmarshal(rec.Body.Bytes(), &snap); err != nil {
		t.Fatalf("debug body %s: %v", rec.Body, err)
	}
	host := strings.TrimPrefix(up.URL, "http://")
	if len(snap.Breakers) != 1 || snap.Breakers[0].Name != "payment/"+host || snap.Breakers[0].State != "open" || snap.Breakers[0].Opens != 1 {
		t.Errorf("debug breakers = %+v, want payment/%s open", snap.Breakers, host)
	}
	if len(snap.Budgets) != 1 || snap.Budgets[0].Requests != 6 || snap.Budgets[0].Retries == 0 {
		t.Errorf("debug budgets = %+v, want 6 requests and some retries", snap.Budgets)
	}
	if len(snap.Limiters) != 1 || snap.Limiters[0].Rate != 10 || len(snap.Shedders) != 1 || snap.Shedders[0].Limit != 20 {
		t.Errorf("debug limiters %+v, shedders %+v; want the server's rate 10 and shed limit 20", snap.Limiters, snap.Shedders)
	}
}
