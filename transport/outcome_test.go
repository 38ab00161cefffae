package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/gantry-go/gantry/transport"
)

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		code int
		want transport.Outcome
	}{
		{200, transport.Success}, {204, transport.Success}, {304, transport.Success},
		{400, transport.Rejected}, {404, transport.Rejected}, {409, transport.Rejected}, {499, transport.Rejected},
		{408, transport.Failure}, {429, transport.Overloaded}, {503, transport.Overloaded},
		{500, transport.Failure}, {502, transport.Failure}, {504, transport.Failure},
	}
	for _, tt := range tests {
		if got := transport.ClassifyStatus(tt.code); got != tt.want {
			t.Errorf("ClassifyStatus(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestClassifyError(t *testing.T) {
	// A real refused connection: listen, close, dial.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := http.Get("http://" + addr)
	if refused == nil {
		t.Fatal("GET to a closed port succeeded")
	}

	tests := []struct {
		name string
		err  error
		want transport.Outcome
		conn bool
	}{
		{"nil", nil, transport.Success, false},
		{"canceled", fmt.Errorf("call: %w", context.Canceled), transport.Canceled, false},
		{"deadline", context.DeadlineExceeded, transport.Failure, false},
		{"status 404", statusErr{404, "x"}, transport.Rejected, false},
		{"status 429", retryErr{}, transport.Overloaded, false},
		{"refused", refused, transport.Failure, true},
		{"other", errors.New("boom"), transport.Failure, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transport.ClassifyError(tt.err); got != tt.want {
				t.Errorf("ClassifyError(%v) = %v, want %v", tt.err, got, tt.want)
			}
			if got := transport.IsConnectionError(tt.err); got != tt.conn {
				t.Errorf("IsConnectionError(%v) = %v, want %v", tt.err, got, tt.conn)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	ok := &http.Response{StatusCode: 200, Header: http.Header{}}
	busy := &http.Response{StatusCode: 503, Header: http.Header{transport.HeaderRetryExhausted: {"1"}}}
	if got := transport.Classify(ok, nil); got != transport.Success {
		t.Errorf("Classify(200, nil) = %v, want success", got)
	}
	if got := transport.Classify(busy, nil); got != transport.Overloaded {
		t.Errorf("Classify(503, nil) = %v, want overloaded", got)
	}
	if got := transport.Classify(nil, context.Canceled); got != transport.Canceled {
		t.Errorf("Classify(nil, Canceled) = %v, want canceled", got)
	}
	if got := transport.Classify(nil, nil); got != transport.Failure {
		t.Errorf("Classify(nil, nil) = %v, want failure", got)
	}
	if transport.RetryExhausted(ok) || !transport.RetryExhausted(busy) || transport.RetryExhausted(nil) {
		t.Errorf("RetryExhausted does not follow the %s header", transport.HeaderRetryExhausted)
	}
}

func TestOutcomeMethods(t *testing.T) {
	tests := []struct {
		o                           transport.Outcome
		name                        string
		failure, neutral, retryable bool
	}{
		{transport.Success, "success", false, false, false},
		{transport.Rejected, "rejected", false, true, false},
		{transport.Canceled, "canceled", false, true, false},
		{transport.Overloaded, "overloaded", true, false, true},
		{transport.Failure, "failure", true, false, true},
		{transport.Outcome(99), "unknown", false, false, false},
	}
	for _, tt := range tests {
		if tt.o.String() != tt.name || tt.o.BreakerFailure() != tt.failure || tt.o.BreakerNeutral() != tt.neutral || tt.o.Retryable() != tt.retryable {
			t.Errorf("%d: String %q BreakerFailure %v BreakerNeutral %v Retryable %v, want %q %v %v %v", tt.o,
				tt.o.String(), tt.o.BreakerFailure(), tt.o.BreakerNeutral(), tt.o.Retryable(), tt.name, tt.failure, tt.neutral, tt.retryable)
		}
	}
}

func TestIdempotent(t *testing.T) {
	tests := []struct {
		method string
		key    bool
		want   bool
	}{
		{"GET", false, true}, {"HEAD", false, true}, {"OPTIONS", false, true}, {"TRACE", false, true},
		{"PUT", false, true}, {"DELETE", false, true}, {"", false, true},
		{"POST", false, false}, {"PATCH", false, false}, {"POST", true, true}, {"PATCH", true, true},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(tt.method, "http://x/", nil)
		if tt.key {
			r.Header.Set(transport.HeaderIdempotencyKey, "k1")
		}
		if got := transport.Idempotent(r); got != tt.want {
			t.Errorf("Idempotent(%s, key=%v) = %v, want %v", tt.method, tt.key, got, tt.want)
		}
	}
}
