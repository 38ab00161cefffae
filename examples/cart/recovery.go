package cart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// RecoverySettings tunes the Recoverer. The zero value works.
type RecoverySettings struct {
	// Interval is the time between two sweeps. Default 30s.
	Interval time.Duration `env:"CART_RECOVERY_INTERVAL" envDefault:"30s"`
	// MinAge leaves alone orders updated more recently than this (on the database's
	// clock), so a sweep does not race a checkout request that is still running. Zero
	// means 5s; a negative value means no minimum (tests).
	MinAge time.Duration `env:"CART_RECOVERY_MIN_AGE" envDefault:"5s"`
	// Batch is the most orders handled in one sweep. Default 100.
	Batch int `env:"CART_RECOVERY_BATCH" envDefault:"100"`
	// OnSweep, when set, is called after every sweep of Run with its result (for
	// metrics, or for tests to know a sweep happened). Nil means nothing.
	OnSweep func(SweepResult, error) `env:"-"`
}

func (s RecoverySettings) withDefaults() RecoverySettings {
	if s.Interval <= 0 {
		s.Interval = 30 * time.Second
	}
	if s.MinAge == 0 {
		s.MinAge = 5 * time.Second
	}
	if s.MinAge < 0 {
		s.MinAge = 0
	}
	if s.Batch <= 0 {
		s.Batch = 100
	}
	return s
}

// Recoverer resumes or compensates orders left pending, for example by a crash, a
// client that gave up, or a dependency that was down. It implements gantry.Runner.
// It is safe for concurrent use; Sweep may run beside Run.
type Recoverer struct {
	shop     *Shop
	settings RecoverySettings
	log      *slog.Logger
}

// NewRecoverer returns a Recoverer for shop. logger may be nil (no logs).
func NewRecoverer(shop *Shop, s RecoverySettings, logger *slog.Logger) *Recoverer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recoverer{shop: shop, settings: s.withDefaults(), log: logger}
}

// Run sweeps once at start and then every Interval, until ctx is cancelled. It
// returns nil on cancellation.
func (r *Recoverer) Run(ctx context.Context) error {
	t := time.NewTicker(r.settings.Interval)
	defer t.Stop()
	for {
		res, err := r.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "order recovery sweep failed", "error", err)
		}
		if r.settings.OnSweep != nil {
			r.settings.OnSweep(res, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepResult counts what one sweep did.
type SweepResult struct {
	// Examined is the number of pending orders looked at.
	Examined int
	// Finished is how many of them reached a final status.
	Finished int
	// StillPending is how many are still pending (a dependency is still down).
	StillPending int
}

// Sweep handles every pending order older than MinAge once: orders pending longer
// than the shop's CancelAfter that have not been charged are cancelled
// (compensated); all others are resumed. Both ages are measured on the database's
// clock, so a replica whose clock is ahead cancels nothing early. Failures of single
// orders are counted, not returned; the error is only for failing to list the orders.
func (r *Recoverer) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	orders, err := r.shop.store.PendingOrders(ctx, r.settings.MinAge, r.shop.settings.CancelAfter, r.settings.Batch)
	if err != nil {
		return res, err
	}
	for _, o := range orders {
		if ctx.Err() != nil {
			return res, nil
		}
		res.Examined++
		var got Order
		if o.Overdue {
			got, err = r.shop.Cancel(ctx, o.ID)
		} else {
			got, err = r.shop.Resume(ctx, o.ID)
		}
		if err == nil && got.Status != StatusPending {
			res.Finished++
			r.log.InfoContext(ctx, "recovered order", "order_id", o.ID, "status", got.Status, "failure", got.Failure)
			continue
		}
		res.StillPending++
		if err != nil && !errors.Is(err, ErrUnavailable) {
			r.log.WarnContext(ctx, "order recovery failed", "order_id", o.ID, "error", err)
		}
	}
	return res, nil
}

// Validate reports settings that cannot work, naming their environment variables.
func (s RecoverySettings) Validate() error {
	var errs []error
	if s.Interval < 0 {
		errs = append(errs, fmt.Errorf("CART_RECOVERY_INTERVAL: %v is negative", s.Interval))
	}
	if s.Batch < 0 {
		errs = append(errs, fmt.Errorf("CART_RECOVERY_BATCH: %d is negative", s.Batch))
	}
	return errors.Join(errs...)
}
