package cart

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The checkout saga, one step per stored state:
//
//	created --reserve--> reserved --(mark)--> charging --charge--> charged --confirm--> done (paid)
//	   |                                         |                    |
//	   | out of stock                            | declined           | reservation lost
//	   v                                         v                    v
//	compensating --refund captured payments, release the reservation--> compensated (failed|cancelled)
//
// Every remote call is idempotent (the reservation per order id, the charge per
// ChargeKey(order id), confirm, release and refund by id), so re-running a step after
// a crash or a lost response is safe. A transient failure (ErrUnavailable) leaves the
// order at its step; the next Checkout with the same key, or the recovery loop,
// resumes it.

// Resume drives the saga of order id forward until it is final or a dependency is
// unavailable, and returns the stored order. It holds the order's lock meanwhile, so
// a checkout retry and the recovery loop never run the same order at once.
func (s *Shop) Resume(ctx context.Context, id string) (Order, error) {
	unlock, err := s.store.LockOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	defer unlock()
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	return s.advance(ctx, o)
}

// Cancel compensates order id if it is pending and no money has been captured for it
// yet; an order already charged is resumed instead, because finishing it is cheaper
// and kinder than refunding it. The recovery loop cancels orders pending longer than
// Settings.CancelAfter.
func (s *Shop) Cancel(ctx context.Context, id string) (Order, error) {
	unlock, err := s.store.LockOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	defer unlock()
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if o.Status != StatusPending || o.Step == StepCharged || o.Step == StepCompensating {
		return s.advance(ctx, o)
	}
	next := o
	if o.Step == StepCreated {
		// The reserve call may have succeeded with its response lost. Reserving again is
		// idempotent per order id and tells us what to release.
		rid, err := s.catalog.Reserve(ctx, o.ID, o.Items)
		switch {
		case err == nil:
			next.ReservationID = rid
		case errors.Is(err, ErrUnavailable) || ctx.Err() != nil:
			return o, s.unavailable("catalog", o, err)
		}
	}
	next.Step, next.Failure = StepCompensating, FailureCancelled
	if o, err = s.save(ctx, o, next); err != nil {
		return o, err
	}
	return s.advance(ctx, o)
}

// advance runs saga steps until the order is final or a step fails.
func (s *Shop) advance(ctx context.Context, o Order) (Order, error) {
	for o.Status == StatusPending {
		var err error
		switch o.Step {
		case StepCreated:
			o, err = s.reserve(ctx, o)
		case StepReserved:
			next := o
			next.Step, next.ChargeAttempted = StepCharging, true
			o, err = s.save(ctx, o, next)
		case StepCharging:
			o, err = s.charge(ctx, o)
		case StepCharged:
			o, err = s.confirm(ctx, o)
		case StepCompensating:
			o, err = s.compensate(ctx, o)
		default:
			return o, fmt.Errorf("cart: order %s has unknown step %q", o.ID, o.Step)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// save stores next as o's successor. A concurrent change (impossible while the lock
// is held, but cheap to handle) reloads the order and lets the loop continue.
func (s *Shop) save(ctx context.Context, o, next Order) (Order, error) {
	saved, err := s.store.Advance(ctx, o, next)
	if errors.Is(err, ErrStaleOrder) {
		return s.store.Order(ctx, o.ID)
	}
	if err != nil {
		return o, err
	}
	return saved, nil
}

func (s *Shop) fail(ctx context.Context, o Order, reason string) (Order, error) {
	next := o
	next.Step, next.Failure = StepCompensating, reason
	return s.save(ctx, o, next)
}

func (s *Shop) unavailable(dep string, o Order, err error) error {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		cp := *ue
		cp.OrderID = o.ID
		return &cp
	}
	if errors.Is(err, context.Canceled) {
		return err // the caller gave up; the order stays at its step for a retry
	}
	// Other failures, the request's own deadline included, leave the order pending:
	// the caller learns it may resume it (503 + Retry-After), not just that time ran out.
	return &UnavailableError{Dependency: dep, OrderID: o.ID, Err: err}
}

func (s *Shop) reserve(ctx context.Context, o Order) (Order, error) {
	rid, err := s.catalog.Reserve(ctx, o.ID, o.Items)
	switch {
	case err == nil:
		next := o
		next.Step, next.ReservationID = StepReserved, rid
		return s.save(ctx, o, next)
	case errors.Is(err, ErrOutOfStock):
		return s.fail(ctx, o, FailureOutOfStock)
	case errors.Is(err, ErrUpstream) || errors.Is(err, ErrProductNotFound):
		return s.fail(ctx, o, FailureRejected)
	default:
		return o, s.unavailable("catalog", o, err)
	}
}

// In-flight charges: how often, and how long at most each time, the saga waits for a
// claim on the charge's key to complete or expire before it gives up (503, resumable).
const (
	maxInFlightWaits = 3
	maxInFlightWait  = 5 * time.Second
)

func (s *Shop) charge(ctx context.Context, o Order) (Order, error) {
	p, err := s.payments.Charge(ctx, ChargeKey(o.ID), o.ID, o.TotalCents, o.Currency)
	for i := 0; i < maxInFlightWaits && errors.Is(err, ErrChargeInFlight); i++ {
		// Another request holds the key: a duplicate still running, or a claim left by
		// a killed payment replica, which expires after its lease. Wait the Retry-After
		// and charge again with the same key, if that fits in the caller's deadline;
		// otherwise the order stays pending and the caller gets 503 + Retry-After.
		if !waitRetry(ctx, inFlightWait(err)) {
			break
		}
		p, err = s.payments.Charge(ctx, ChargeKey(o.ID), o.ID, o.TotalCents, o.Currency)
	}
	switch {
	case err == nil:
		next := o
		next.Step, next.PaymentID = StepCharged, p.ID
		return s.save(ctx, o, next)
	case errors.Is(err, ErrPaymentDeclined):
		return s.fail(ctx, o, FailureDeclined)
	case errors.Is(err, ErrUpstream):
		return s.fail(ctx, o, FailureRejected)
	default:
		return o, s.unavailable("payment", o, err)
	}
}

func (s *Shop) confirm(ctx context.Context, o Order) (Order, error) {
	err := s.catalog.ConfirmReservation(ctx, o.ReservationID)
	switch {
	case err == nil:
		next := o
		next.Step, next.Status = StepDone, StatusPaid
		return s.save(ctx, o, next)
	case errors.Is(err, ErrUpstream):
		return s.fail(ctx, o, FailureRejected) // the hold is gone: refund
	default:
		return o, s.unavailable("catalog", o, err)
	}
}

// compensate refunds whatever may have been captured and releases the reservation,
// then marks the order failed (or cancelled). Each call is idempotent, so a
// compensation interrupted half way is simply run again.
func (s *Shop) compensate(ctx context.Context, o Order) (Order, error) {
	if o.ChargeAttempted {
		ids := []string{}
		if o.PaymentID != "" {
			ids = append(ids, o.PaymentID)
		} else {
			// The charge's outcome is unknown: its response was lost, or it is still
			// at the payment service (slow, or claimed by a replica that died). Settle
			// it by its key: a charge that never happened can no longer happen, one
			// in flight is waited for, one that captured is refunded. Reading the
			// ledger instead would miss a charge in flight, which would then capture on
			// a cancelled order.
			p, err := s.payments.Void(ctx, ChargeKey(o.ID), o.ID, o.TotalCents, o.Currency)
			if err != nil {
				return o, s.unavailable("payment", o, err)
			}
			if p.ID != "" && Captured(p.Status) {
				ids = append(ids, p.ID)
			}
		}
		for _, id := range ids {
			if err := s.payments.Refund(ctx, id); err != nil && !errors.Is(err, ErrUpstream) {
				return o, s.unavailable("payment", o, err)
			}
		}
	}
	if o.ReservationID != "" {
		if err := s.catalog.ReleaseReservation(ctx, o.ReservationID); err != nil && !errors.Is(err, ErrUpstream) {
			return o, s.unavailable("catalog", o, err)
		}
	}
	next := o
	next.Step, next.Status = StepCompensated, StatusFailed
	if o.Failure == FailureCancelled {
		next.Status = StatusCancelled
	}
	return s.save(ctx, o, next)
}

// Captured reports whether a payment status means money was taken and not returned
// (the payment service's "captured").
func Captured(status string) bool { return status == "captured" }

// keyedMutex is a set of per-key locks that honour context cancellation.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	e, ok := k.m[key]
	if !ok {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// inFlightWait is the Retry-After of an in-flight charge, between 1s and maxInFlightWait.
func inFlightWait(err error) time.Duration {
	d := time.Second
	var ue *UnavailableError
	if errors.As(err, &ue) && ue.Retry > 0 {
		d = ue.Retry
	}
	return min(d, maxInFlightWait)
}

// waitRetry sleeps d and reports true, or reports false at once if ctx's deadline
// would pass first (leaving time for the retry itself), or false when ctx ends.
func waitRetry(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d+d/2 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
