package resilience

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gantry-go/gantry/transport"
)

func TestDeadlinePropagatesAcrossTwoHops(t *testing.T) {
	// The allowance must cover a hop's transit time (dial, scheduling); on a loaded
	// 2-core CI box a loopback hop can take tens of milliseconds.
	settings := DeadlineSettings{TransitAllowance: 50 * time.Millisecond}
	innerDeadline := make(chan time.Time, 2)
	inner := httptest.NewServer(Deadline(settings)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		if !ok {
			t.Error("inner handler has no deadline")
		}
		innerDeadline <- dl
	})))
	defer inner.Close()
	client := &http.Client{Transport: transport.ClientChain(Timeout(time.Second), transport.PropagateDeadline())(http.DefaultTransport)}
	middleDeadline := make(chan time.Time, 2)
	middle := httptest.NewServer(Deadline(settings)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, _ := r.Context().Deadline()
		middleDeadline <- dl
		req, _ := http.NewRequestWithContext(r.Context(), "GET", inner.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("middle -> inner: %v", err)
			return
		}
		resp.Body.Close()
	})))
	defer middle.Close()

	var outer time.Time
	for range 2 { // the first round dials; the second is measured
		ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
		outer, _ = ctx.Deadline()
		req, _ := http.NewRequestWithContext(ctx, "GET", middle.URL, nil)
		resp, err := client.Do(req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	<-middleDeadline
	<-innerDeadline
	// Each hop subtracts the transit allowance, so no callee outlives its caller even
	// though the request spent time dialing and queueing.
	mid, in := <-middleDeadline, <-innerDeadline
	if mid.After(outer) {
		t.Errorf("middle deadline %v is after the outer caller's %v", mid, outer)
	}
	if in.After(mid) || in.After(outer) {
		t.Errorf("inner deadline %v is after the middle's %v / outer's %v", in, mid, outer)
	}
	if outer.Sub(in) > 400*time.Millisecond {
		t.Errorf("inner deadline %v is %v before the outer one: the budget was not carried", in, outer.Sub(in))
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			<-req.Context().Done()
			return nil, req.Context().Err()
		})
		start := time.Now()
		_, err := Timeout(300 * time.Millisecond)(hang).RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("RoundTrip() = %v after %v, want DeadlineExceeded after 300ms", err, time.Since(start))
		}

		var attemptCtx context.Context
		ok := transport.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
			attemptCtx = req.Context()
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("hello"))}, nil
		})
		resp, err := Timeout(time.Second)(ok).RoundTrip(httptest.NewRequest("GET", "http://up/", nil))
		if err != nil {
			t.Fatal(err)
		}
		if attemptCtx.Err() != nil {
			t.Fatalf("attempt context ended before the body was read")
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" || !errors.Is(attemptCtx.Err(), context.Canceled) {
			t.Fatalf("body %q, context %v; want hello and a released context", b, attemptCtx.Err())
		}
	})
}
