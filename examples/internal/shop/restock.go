package shop

import (
	"context"
	"log/slog"
	"time"

	"github.com/gantry-go/gantry/examples/catalog"
)

// The restocker's policy (Options.Restock): every restockInterval, each product
// with fewer than restockBelow units available is topped up to restockLevel, so a
// load run of thousands of flows per second never runs a product out.
const (
	restockInterval = 200 * time.Millisecond
	restockBelow    = 5000
	restockLevel    = 10000
)

// restocker tops the catalog's stock up while it runs (Options.Restock). It is a
// gantry.Run component.
type restocker struct {
	store *catalog.Store
	log   *slog.Logger
}

func (r *restocker) restock(ctx context.Context) error {
	_, err := r.store.Restock(ctx, restockBelow, restockLevel)
	return err
}

// Run restocks every restockInterval until ctx is done, then returns nil.
func (r *restocker) Run(ctx context.Context) error {
	t := time.NewTicker(restockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := r.restock(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "restocking failed", "error", err)
		}
	}
}
