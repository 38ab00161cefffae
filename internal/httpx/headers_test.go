package httpx_test

import (
	"testing"

	"github.com/gantry-go/gantry/internal/httpx"
	"github.com/gantry-go/gantry/transport"
)

func TestHeaderAttemptMatchesTransport(t *testing.T) {
	if httpx.HeaderAttempt != transport.HeaderAttempt {
		t.Errorf("httpx.HeaderAttempt = %q, want transport.HeaderAttempt %q", httpx.HeaderAttempt, transport.HeaderAttempt)
	}
}
