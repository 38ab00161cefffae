package payment

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gantry-go/gantry/config"
)

// ProcessorSettings makes the simulated processor slow or flaky on purpose. The zero
// value is a fast, reliable processor.
type ProcessorSettings struct {
	// Latency is added to every authorization and refund (honouring the request's
	// context). Default 0.
	Latency time.Duration `env:"PAYMENT_PROCESSOR_LATENCY" envDefault:"0s"`
	// FailureRate is the probability, from 0 to 1, that a call fails with
	// ErrUnavailable after the latency and before any money moves. Default 0.
	FailureRate float64 `env:"PAYMENT_PROCESSOR_FAILURE_RATE" envDefault:"0"`
}

// Validate reports every invalid field, each naming its environment variable.
func (s ProcessorSettings) Validate() error {
	var errs []error
	if s.Latency < 0 || s.Latency > time.Minute {
		errs = append(errs, config.Invalid("PAYMENT_PROCESSOR_LATENCY", "%v is not between 0 and 1m", s.Latency))
	}
	if math.IsNaN(s.FailureRate) || s.FailureRate < 0 || s.FailureRate > 1 {
		errs = append(errs, config.Invalid("PAYMENT_PROCESSOR_FAILURE_RATE", "%v is not between 0 and 1", s.FailureRate))
	}
	return errors.Join(errs...)
}

// SimulatedProcessor is a card network stand-in. It declines every amount whose
// cents end in 13 (reason "card_declined") and approves the rest, after
// ProcessorSettings.Latency, failing with ErrUnavailable at FailureRate. Like a real
// acquirer it is idempotent on the key of Authorize: a decided key answers its
// decision again at once and authorizes nothing more (for 24 hours, then it is
// forgotten), a key still being decided answers ErrUnavailable, and a key reused for
// another charge is refused. A failure or a cancellation before the decision moves
// no money and leaves the key free. It is safe for concurrent use if its random
// source is.
type SimulatedProcessor struct {
	set    ProcessorSettings
	random func() float64
	now    func() time.Time

	mu         sync.Mutex
	decided    map[string]decided
	inFlight   map[string]bool
	authorized int
}

type decided struct {
	req ChargeRequest
	dec Decision
	at  time.Time
}

// keyMemory is how long the simulated processor remembers a key, as acquirers do.
const keyMemory = 24 * time.Hour

// ErrProcessorKeyReused is the simulated processor's answer to a key reused for
// another charge. The service never sends one (it refuses a reused key first).
var ErrProcessorKeyReused = errors.New("payment: processor: idempotency key reused for another charge")

var _ Processor = (*SimulatedProcessor)(nil)

// NewSimulatedProcessor returns a processor with settings s. random returns numbers
// in [0, 1) and decides failures; nil means math/rand/v2.Float64. Tests pass a
// deterministic source.
func NewSimulatedProcessor(s ProcessorSettings, random func() float64) *SimulatedProcessor {
	if random == nil {
		random = rand.Float64
	}
	return &SimulatedProcessor{set: s, random: random, now: time.Now,
		decided: map[string]decided{}, inFlight: map[string]bool{}}
}

// Authorize decides a charge once per key (see SimulatedProcessor).
func (p *SimulatedProcessor) Authorize(ctx context.Context, key string, req ChargeRequest) (Decision, error) {
	p.mu.Lock()
	if d, ok := p.decided[key]; ok && p.now().Sub(d.at) < keyMemory {
		p.mu.Unlock()
		if d.req != req {
			return Decision{}, ErrProcessorKeyReused
		}
		return d.dec, nil
	}
	if p.inFlight[key] {
		p.mu.Unlock()
		return Decision{}, &UnavailableError{Retry: retryAfter}
	}
	p.inFlight[key] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.inFlight, key)
		p.mu.Unlock()
	}()

	if err := p.call(ctx); err != nil {
		return Decision{}, err
	}
	dec := Decision{Approved: true}
	if req.AmountCents%100 == 13 {
		dec = Decision{Approved: false, Reason: "card_declined"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.decided)%1024 == 1023 {
		for k, d := range p.decided {
			if now.Sub(d.at) >= keyMemory {
				delete(p.decided, k)
			}
		}
	}
	p.decided[key] = decided{req: req, dec: dec, at: now}
	if dec.Approved {
		p.authorized++
	}
	return dec, nil
}

// Authorized returns how many charges the processor has approved: money moved once
// per key, however many times it was asked.
func (p *SimulatedProcessor) Authorized() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authorized
}

// Refund returns a payment's money (see SimulatedProcessor).
func (p *SimulatedProcessor) Refund(ctx context.Context, _ Payment) error {
	return p.call(ctx)
}

// retryAfter is what a simulated outage tells callers to wait.
const retryAfter = time.Second

// UnavailableError is a processor failure; it wraps ErrUnavailable and tells the
// caller when to retry. It is an immutable value, safe for concurrent use.
type UnavailableError struct{ Retry time.Duration }

// Error returns ErrUnavailable's message.
func (e *UnavailableError) Error() string { return ErrUnavailable.Error() }

// Unwrap returns ErrUnavailable.
func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// RetryAfter returns e.Retry.
func (e *UnavailableError) RetryAfter() time.Duration { return e.Retry }

func (p *SimulatedProcessor) call(ctx context.Context) error {
	if p.set.Latency > 0 {
		t := time.NewTimer(p.set.Latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p.set.FailureRate > 0 && p.random() < p.set.FailureRate {
		return &UnavailableError{Retry: retryAfter}
	}
	return ctx.Err()
}
