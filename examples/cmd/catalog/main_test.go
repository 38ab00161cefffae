package main

import (
	"strings"
	"testing"
)

func TestRunRejectsBadConfigNamingVariables(t *testing.T) {
	env := map[string]string{"HTTP_ADDR": "no-port", "DATA_DIR": t.TempDir(), "SHUTDOWN_TIMEOUT": "soon"}
	err := run(t.Context(), env)
	if err == nil {
		t.Fatal("run(bad env) = nil, want a start-up error")
	}
	for _, v := range []string{"HTTP_ADDR", "SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(err.Error(), v+": ") {
			t.Errorf("run(bad env) = %v, want it to name %s", err, v)
		}
	}
}
