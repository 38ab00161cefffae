package main

import (
	"strings"
	"testing"
)

func TestRunRejectsBadConfigNamingVariables(t *testing.T) {
	env := map[string]string{
		"HTTP_ADDR": "no-port", "DATA_DIR": t.TempDir(), "CART_RECOVERY_INTERVAL": "often",
		"DISCOVERY_STATIC": "catalog=ftp://x", "RETRY_MAX_ATTEMPTS": "-1", "CART_CANCEL_AFTER": "-1m",
	}
	err := run(t.Context(), env)
	if err == nil {
		t.Fatal("run(bad env) = nil, want a start-up error")
	}
	for _, v := range []string{"HTTP_ADDR", "CART_RECOVERY_INTERVAL", "DISCOVERY_STATIC", "RETRY_MAX_ATTEMPTS", "CART_CANCEL_AFTER"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("run(bad env) = %v, want it to name %s", err, v)
		}
	}
}
