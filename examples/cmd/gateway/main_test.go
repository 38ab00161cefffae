package main

import (
	"strings"
	"testing"
)

func TestRunRejectsBadConfigNamingVariables(t *testing.T) {
	env := map[string]string{
		"HTTP_ADDR": ":8080", "RATELIMIT_KEY_RATE": "-5", "CLIENT_ATTEMPT_TIMEOUT": "30s", "CLIENT_REQUEST_TIMEOUT": "1s",
		"GATEWAY_CART_URL": "cart",
	}
	err := run(t.Context(), env)
	if err == nil {
		t.Fatal("run(bad env) = nil, want a start-up error")
	}
	for _, v := range []string{"RATELIMIT_KEY_RATE", "CLIENT_ATTEMPT_TIMEOUT", "GATEWAY_CART_URL"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("run(bad env) = %v, want it to name %s", err, v)
		}
	}
}
