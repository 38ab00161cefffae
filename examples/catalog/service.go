package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Domain errors. The transport maps each to an HTTP status; callers branch on them
// with errors.Is.
var (
	// ErrProductNotFound: no product has this id.
	ErrProductNotFound = errors.New("catalog: product not found")
	// ErrReservationNotFound: no reservation has this id.
	ErrReservationNotFound = errors.New("catalog: reservation not found")
	// ErrInsufficientStock: an item asks for more than is available. Nothing was held.
	ErrInsufficientStock = errors.New("catalog: insufficient stock")
	// ErrUnknownProduct: a reservation names a product that does not exist.
	ErrUnknownProduct = errors.New("catalog: unknown product in reservation")
	// ErrOrderMismatch: the order already has a reservation for different items.
	ErrOrderMismatch = errors.New("catalog: order already has a reservation for other items")
	// ErrReservationReleased: a released reservation cannot be confirmed.
	ErrReservationReleased = errors.New("catalog: reservation already released")
	// ErrInvalid: the request is malformed. The error is an *InvalidError naming the
	// field.
	ErrInvalid = errors.New("catalog: invalid request")
)

// InvalidError is a request field that fails validation. errors.Is(err, ErrInvalid)
// matches it. It is an immutable value, safe for concurrent use.
type InvalidError struct {
	Field  string
	Reason string
}

// Error names the field and the reason.
func (e *InvalidError) Error() string {
	return "catalog: invalid request: " + e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits on a reservation request.
const (
	MaxItems    = 100
	MaxQuantity = 1000
	MaxIDLength = 128
)

// Reservation statuses.
const (
	StatusHeld      = "held"
	StatusConfirmed = "confirmed"
	StatusReleased  = "released"
)

// Product is one item for sale. Stock is the quantity available to reserve.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	Stock      int64  `json:"stock"`
}

// Item is a quantity of one product in a reservation.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// Reservation holds stock for one order. Status is held, confirmed or released.
type Reservation struct {
	ID      string `json:"id"`
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Items   []Item `json:"items"`
}

// StockLevel is a product's stock accounting: Initial = Available + Held + Sold holds
// after every committed change (the database enforces it with a CHECK constraint).
type StockLevel struct {
	ProductID string `json:"product_id"`
	Initial   int64  `json:"initial"`
	Available int64  `json:"available"`
	Held      int64  `json:"held"`
	Sold      int64  `json:"sold"`
}

// Service is the catalog's domain API. Implementations are safe for concurrent use.
type Service interface {
	// ListProducts returns every product, ordered by id.
	//
	// With ids, only those products, ordered by id; unknown ids are left out. At most
	// MaxProductIDs ids; more, or a malformed one, is ErrInvalid.
	ListProducts(ctx context.Context, ids ...string) ([]Product, error)
	// GetProduct returns one product or ErrProductNotFound.
	GetProduct(ctx context.Context, id string) (Product, error)
	// Reserve holds stock for every item of an order, all or nothing. It is
	// idempotent per order id: when the order already has a reservation with the same
	// items, that reservation is returned with created false (whatever its status);
	// with other items, ErrOrderMismatch. Short stock is ErrInsufficientStock and an
	// unknown product ErrUnknownProduct; nothing is held then.
	Reserve(ctx context.Context, orderID string, items []Item) (r Reservation, created bool, err error)
	// GetReservation returns one reservation or ErrReservationNotFound.
	GetReservation(ctx context.Context, id string) (Reservation, error)
	// Confirm turns held stock into sold stock. Confirming a confirmed reservation is a
	// no-op; a released one is ErrReservationReleased, and so is a held one past its
	// expiry (Settings.HoldTTL), which Confirm releases.
	Confirm(ctx context.Context, id string) (Reservation, error)
	// Release returns the reservation's stock to available: held stock, or sold stock
	// when the reservation was confirmed (the order was cancelled after all). Releasing
	// a released reservation is a no-op.
	Release(ctx context.Context, id string) (Reservation, error)
	// Inventory returns every product's stock accounting, ordered by product id.
	Inventory(ctx context.Context) ([]StockLevel, error)
}

// Repository is where the catalog keeps products and reservations: *Store (SQLite)
// or *PostgresStore, which behave alike (one contract test suite runs against both).
// Every method is one transaction, and implementations are safe for concurrent use
// by several processes sharing the database.
type Repository interface {
	// ListProducts returns every product, or those of ids, ordered by id.
	ListProducts(ctx context.Context, ids ...string) ([]Product, error)
	// GetProduct returns one product or ErrProductNotFound.
	GetProduct(ctx context.Context, id string) (Product, error)
	// Reserve holds the items' stock for orderID until ttl passes on the database's
	// clock; a second call for the order returns the first reservation (created
	// false), or ErrOrderMismatch for other items.
	Reserve(ctx context.Context, orderID string, items []Item, ttl time.Duration) (res Reservation, created bool, err error)
	// GetReservation returns one reservation or ErrReservationNotFound.
	GetReservation(ctx context.Context, id string) (Reservation, error)
	// Confirm moves a held reservation's stock to sold; an expired hold is released
	// instead and answers ErrReservationReleased.
	Confirm(ctx context.Context, id string) (Reservation, error)
	// Release returns a reservation's stock (held or sold) to available.
	Release(ctx context.Context, id string) (Reservation, error)
	// ReleaseExpired releases up to limit expired holds and returns how many.
	ReleaseExpired(ctx context.Context, limit int) (int, error)
	// Inventory returns every product's stock accounting, ordered by product id.
	Inventory(ctx context.Context) ([]StockLevel, error)
	// Restock tops up products with fewer than below units available to level.
	Restock(ctx context.Context, below, level int64) (int, error)
}

var (
	_ Repository = (*Store)(nil)
	_ Repository = (*PostgresStore)(nil)
)

// NewService returns the catalog service over store with the default Settings.
func NewService(store Repository) Service { return NewServiceWith(store, Settings{}) }

// NewServiceWith returns the catalog service over store. It validates requests,
// merges nothing implicitly and leaves every state change to one store transaction.
func NewServiceWith(store Repository, s Settings) Service {
	return &service{store: store, set: s.withDefaults()}
}

// Settings tunes the catalog. The zero value works.
type Settings struct {
	// HoldTTL is how long a reservation holds stock unconfirmed. After it the hold
	// expires: the Sweeper releases it, and confirming it is ErrReservationReleased
	// (409), which the cart's saga turns into a refund. It must exceed the cart's
	// cancel window (CART_CANCEL_AFTER), so that a saga that can still finish finds
	// its hold. Measured on the database's clock. Default 30m.
	HoldTTL time.Duration `env:"CATALOG_HOLD_TTL"`
	// SweepInterval is how often the Sweeper releases expired holds. Default 1m.
	SweepInterval time.Duration `env:"CATALOG_HOLD_SWEEP_INTERVAL"`
}

// Validate reports invalid fields, each naming its environment variable.
func (s Settings) Validate() error {
	var errs []error
	if s.HoldTTL < 0 || (s.HoldTTL > 0 && s.HoldTTL < time.Second) {
		errs = append(errs, config.Invalid("CATALOG_HOLD_TTL", "%v is not at least 1s", s.HoldTTL))
	}
	if s.SweepInterval < 0 || (s.SweepInterval > 0 && s.SweepInterval < 10*time.Millisecond) {
		errs = append(errs, config.Invalid("CATALOG_HOLD_SWEEP_INTERVAL", "%v is not at least 10ms", s.SweepInterval))
	}
	return errors.Join(errs...)
}

func (s Settings) withDefaults() Settings {
	if s.HoldTTL <= 0 {
		s.HoldTTL = 30 * time.Minute
	}
	if s.SweepInterval <= 0 {
		s.SweepInterval = time.Minute
	}
	return s
}

type service struct {
	store Repository
	set   Settings
}

var _ Service = (*service)(nil)

// MaxProductIDs bounds the ids of one ListProducts call (GET /products?id=...).
const MaxProductIDs = 100

func (s *service) ListProducts(ctx context.Context, ids ...string) ([]Product, error) {
	if len(ids) > MaxProductIDs {
		return nil, &InvalidError{Field: "id", Reason: fmt.Sprintf("at most %d ids, got %d", MaxProductIDs, len(ids))}
	}
	for _, id := range ids {
		if err := checkID("id", id); err != nil {
			return nil, err
		}
	}
	return s.store.ListProducts(ctx, ids...)
}

func (s *service) GetProduct(ctx context.Context, id string) (Product, error) {
	if err := checkID("id", id); err != nil {
		return Product{}, ErrProductNotFound
	}
	return s.store.GetProduct(ctx, id)
}

func (s *service) Reserve(ctx context.Context, orderID string, items []Item) (Reservation, bool, error) {
	if err := ValidateReservation(orderID, items); err != nil {
		return Reservation{}, false, err
	}
	return s.store.Reserve(ctx, orderID, items, s.set.HoldTTL)
}

func (s *service) GetReservation(ctx context.Context, id string) (Reservation, error) {
	if err := checkID("id", id); err != nil {
		return Reservation{}, ErrReservationNotFound
	}
	return s.store.GetReservation(ctx, id)
}

func (s *service) Confirm(ctx context.Context, id string) (Reservation, error) {
	if err := checkID("id", id); err != nil {
		return Reservation{}, ErrReservationNotFound
	}
	return s.store.Confirm(ctx, id)
}

func (s *service) Release(ctx context.Context, id string) (Reservation, error) {
	if err := checkID("id", id); err != nil {
		return Reservation{}, ErrReservationNotFound
	}
	return s.store.Release(ctx, id)
}

func (s *service) Inventory(ctx context.Context) ([]StockLevel, error) {
	return s.store.Inventory(ctx)
}

// ValidateReservation checks a reservation request: an order id, 1 to MaxItems items,
// each with a product id, a quantity from 1 to MaxQuantity, and no product twice.
// The error wraps ErrInvalid and names the field.
func ValidateReservation(orderID string, items []Item) error {
	if err := checkID("order_id", orderID); err != nil {
		return err
	}
	if len(items) == 0 {
		return invalid("items", "at least one item is required")
	}
	if len(items) > MaxItems {
		return invalid("items", "at most %d items", MaxItems)
	}
	seen := make(map[string]bool, len(items))
	for i, it := range items {
		field := fmt.Sprintf("items[%d]", i)
		if err := checkID(field+".product_id", it.ProductID); err != nil {
			return err
		}
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			return invalid(field+".quantity", "must be from 1 to %d", MaxQuantity)
		}
		if seen[it.ProductID] {
			return invalid(field+".product_id", "%q appears twice", it.ProductID)
		}
		seen[it.ProductID] = true
	}
	return nil
}

func checkID(field, id string) error {
	switch {
	case id == "":
		return invalid(field, "is required")
	case len(id) > MaxIDLength:
		return invalid(field, "longer than %d bytes", MaxIDLength)
	case strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return invalid(field, "contains control characters")
	}
	return nil
}
