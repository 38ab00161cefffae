package catalog

import (
	"context"
	"log/slog"
	"time"
)

// sweepBatch bounds the holds one sweep releases, so that a backlog is worked off in
// steps and no sweep holds the database for long.
const sweepBatch = 256

// Sweeper releases expired holds (Settings.HoldTTL) every Settings.SweepInterval, so
// that stock held for an order that will never be confirmed (its cart gave up, or
// died) returns to sale. Give it to gantry.Run. It is safe for concurrent use, and
// several sweepers (replicas) may share one database: each hold is released once.
type Sweeper struct {
	store Repository
	set   Settings
	log   *slog.Logger
	// OnSweep, when set, is called after each sweep with what it released. Tests use it.
	OnSweep func(released int, err error)
}

// NewSweeper returns the sweeper of store. logger may be nil.
func NewSweeper(store Repository, s Settings, logger *slog.Logger) *Sweeper {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{store: store, set: s.withDefaults(), log: logger}
}

// Run sweeps until ctx is done, then returns nil.
func (w *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(w.set.SweepInterval)
	defer t.Stop()
	for {
		n, err := w.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "releasing expired holds failed", "error", err)
		}
		if n > 0 {
			w.log.InfoContext(ctx, "released expired holds", "count", n)
		}
		if w.OnSweep != nil {
			w.OnSweep(n, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep releases every hold expired now, in batches, and returns how many.
func (w *Sweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := w.store.ReleaseExpired(ctx, sweepBatch)
		total += n
		if err != nil || n < sweepBatch {
			return total, err
		}
	}
}
