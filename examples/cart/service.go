package cart

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Service is the cart domain: carts of products, and the checkout that turns a cart
// into a paid order. Carts and orders belong to an owner, the subject of the user
// the gateway verified ("" when the gateway authenticates no one): cart ids are per
// owner, and another owner's cart or order is not found (404, never 403, so that no
// one learns it exists).
type Service interface {
	// PutItem sets the quantity of a product in owner's cart (creating the cart) and
	// returns the priced cart. An unknown product is ErrProductNotFound.
	PutItem(ctx context.Context, owner, cartID, productID string, quantity int) (Cart, error)
	// RemoveItem removes a product from owner's cart and returns the priced cart.
	RemoveItem(ctx context.Context, owner, cartID, productID string) (Cart, error)
	// GetCart returns owner's cart with current catalog prices, or
	// ErrCartNotFound. A cart exists from its first PutItem on, empty or not.
	GetCart(ctx context.Context, owner, cartID string) (Cart, error)
	// Checkout runs (or resumes) the checkout saga for owner's cart under
	// idempotencyKey. Keys are owner's own and expire (Settings.KeyTTL); until then
	// the same key always means the same order, and the key with another cart is
	// ErrKeyReused.
	Checkout(ctx context.Context, owner, cartID, idempotencyKey string) (Order, error)
	// GetOrder returns owner's order, or ErrOrderNotFound.
	GetOrder(ctx context.Context, owner, orderID string) (Order, error)
}

// Domain errors. Callers branch on them with errors.Is; the HTTP transport maps each
// to its status.
var (
	ErrInvalid         = errors.New("cart: invalid request")   // 400
	ErrProductNotFound = errors.New("cart: product not found") // 404
	ErrOrderNotFound   = errors.New("cart: order not found")   // 404
	ErrCartNotFound    = errors.New("cart: cart not found")    // 404
	ErrEmptyCart       = errors.New("cart: cart is empty")     // 409
	// ErrCartFull: the cart has MaxLines lines already (409).
	ErrCartFull = errors.New("cart: cart is full")
	// ErrCurrencyMismatch: a cart and an order are in one currency; the product is
	// priced in another (409).
	ErrCurrencyMismatch = errors.New("cart: product priced in another currency than the cart")
	// ErrTotalTooLarge: the cart's total would not fit in an int64 of cents (409).
	ErrTotalTooLarge   = errors.New("cart: cart total too large")
	ErrOutOfStock      = errors.New("cart: not enough stock") // 409
	ErrPaymentDeclined = errors.New("cart: payment declined") // 402
	ErrOrderCancelled  = errors.New("cart: order cancelled")  // 409
	ErrCheckoutFailed  = errors.New("cart: checkout failed")  // 409
	// ErrCartCheckedOut: the cart, as it is, already has an order in progress or
	// paid, made with another Idempotency-Key (409; see CheckedOutError).
	ErrCartCheckedOut = errors.New("cart: cart already checked out")
	// ErrChargeInFlight: payment answered 409, the charge's Idempotency-Key is claimed by
	// another request (perhaps on a replica that died). It comes wrapped in an
	// UnavailableError whose Retry is the time left on that claim.
	ErrChargeInFlight = errors.New("cart: charge still in flight")
	ErrKeyReused      = errors.New("cart: idempotency key already used for another cart") // 422
	ErrUnavailable    = errors.New("cart: a dependency is unavailable")                   // 503
	ErrUpstream       = errors.New("cart: a dependency rejected the request")             // saga: permanent
)

// InvalidError names the invalid field of a request. It matches ErrInvalid.
type InvalidError struct {
	Field  string
	Detail string
}

func (e *InvalidError) Error() string        { return "cart: invalid " + e.Field + ": " + e.Detail }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// UnavailableError says which dependency could not be reached and when to retry. It
// matches ErrUnavailable.
type UnavailableError struct {
	// Dependency is "catalog" or "payment".
	Dependency string
	// OrderID is the pending order, when there is one.
	OrderID string
	// Retry is the upstream's Retry-After, or zero.
	Retry time.Duration
	// Err is the cause.
	Err error
}

func (e *UnavailableError) Error() string {
	return "cart: " + e.Dependency + " unavailable: " + fmt.Sprint(e.Err)
}
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Status is an order's lifecycle state.
type Status string

// Order statuses. Pending is the only non-final one.
const (
	StatusPending   Status = "pending"
	StatusPaid      Status = "paid"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Step is the checkout saga's progress for an order. Each step is stored before the
// call it guards returns, so a crash resumes from the last stored step.
type Step string

// Saga steps, in order. Compensating and compensated are the failure branch.
const (
	StepCreated      Step = "created"      // order stored; next: reserve stock
	StepReserved     Step = "reserved"     // stock held; next: charge
	StepCharging     Step = "charging"     // a charge may have been sent; next: charge (idempotent)
	StepCharged      Step = "charged"      // money captured; next: confirm the reservation
	StepDone         Step = "done"         // paid
	StepCompensating Step = "compensating" // refund and release, then failed or cancelled
	StepCompensated  Step = "compensated"  // failed or cancelled, nothing held, nothing charged
)

// Failure reasons stored on failed and cancelled orders.
const (
	FailureOutOfStock = "out_of_stock"
	FailureDeclined   = "payment_declined"
	FailureRejected   = "rejected_by_dependency"
	FailureCancelled  = "abandoned"
)

// Item is one cart or order line.
type Item struct {
	ProductID  string `json:"product_id"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

// Cart is a priced cart.
type Cart struct {
	ID         string `json:"id"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency,omitempty"`
}

// Order is a checkout's durable record.
type Order struct {
	ID string
	// CartVersion is the version of the cart the order was made from: a cart has
	// at most one order in progress or paid per version, and editing it after a
	// checkout starts the next version.
	CartVersion int64
	// Owner is the principal the order belongs to ("" without authentication).
	Owner  string
	CartID string
	// IdempotencyKey is the checkout's key, "" once it expired and its owner used it
	// again.
	IdempotencyKey  string
	Status          Status
	Step            Step
	ReservationID   string
	PaymentID       string
	ChargeAttempted bool
	TotalCents      int64
	Currency        string
	Failure         string
	Items           []Item
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// Replayed is true when Checkout found the order already created by an earlier
	// request with the same Idempotency-Key.
	Replayed bool
}

// CheckedOutError is ErrCartCheckedOut with the order that holds the cart: a second
// checkout of an unchanged cart with a new key (a double click, two tabs) is
// answered with the existing order's id instead of a second order and a second
// charge. Edit the cart to buy again.
type CheckedOutError struct{ OrderID string }

func (e *CheckedOutError) Error() string {
	return ErrCartCheckedOut.Error() + " by order " + e.OrderID + "; edit the cart to order again"
}

// Unwrap returns ErrCartCheckedOut.
func (e *CheckedOutError) Unwrap() error { return ErrCartCheckedOut }

// Product is what the cart needs to know about a catalog product.
type Product struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	Stock      int    `json:"stock"`
}

// Payment is what the cart needs to know about a payment.
type Payment struct {
	ID          string `json:"id"`
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
}

// Catalog is the cart's view of the catalog service. Implementations return
// ErrProductNotFound, ErrOutOfStock, an error matching ErrUnavailable for transient
// failures, and one matching ErrUpstream for other rejections.
type Catalog interface {
	Product(ctx context.Context, id string) (Product, error)
	// Products returns the products of ids that exist, by id, in one call.
	Products(ctx context.Context, ids []string) (map[string]Product, error)
	Reserve(ctx context.Context, orderID string, items []Item) (reservationID string, err error)
	ConfirmReservation(ctx context.Context, reservationID string) error
	ReleaseReservation(ctx context.Context, reservationID string) error
}

// Payments is the cart's view of the payment service. Charge must be idempotent per
// key. Implementations return ErrPaymentDeclined, an error matching ErrUnavailable
// for transient failures (including "in flight"), and one matching ErrUpstream for
// other rejections.
type Payments interface {
	Charge(ctx context.Context, key, orderID string, amountCents int64, currency string) (Payment, error)
	Refund(ctx context.Context, paymentID string) error
	PaymentsForOrder(ctx context.Context, orderID string) ([]Payment, error)
	// Void settles the charge with key for an order being given up: it makes a
	// charge that never happened impossible from now on, or returns the one that
	// did. A returned Payment with no ID means no money moved; a charge still in
	// flight is an error matching ErrUnavailable (wait, then settle again).
	Void(ctx context.Context, key, orderID string, amountCents int64, currency string) (Payment, error)
}

// Settings tunes the service. The zero value works.
type Settings struct {
	// RetryAfter is the Retry-After sent with a 503 when the dependency gave none.
	// Default 1s.
	RetryAfter time.Duration `env:"CART_RETRY_AFTER" envDefault:"1s"`
	// CancelAfter is how long an order may stay pending before the recovery loop
	// cancels it instead of resuming it, if no money has been captured yet. Measured
	// on the database's clock. Default 15m.
	CancelAfter time.Duration `env:"CART_CANCEL_AFTER" envDefault:"15m"`
	// KeyTTL is how long a checkout Idempotency-Key means its order; after it, the
	// owner may use the key for a new checkout. Default 24h.
	KeyTTL time.Duration `env:"CART_IDEMPOTENCY_KEY_TTL" envDefault:"24h"`
	// Now is the clock of the checkout keys' expiry (KeyTTL). The cancel window is
	// the database's clock, never this one. nil means time.Now.
	Now func() time.Time `env:"-"`
	// MeterProvider receives cart.checkouts and cart.orders. Nil means no metrics.
	MeterProvider metric.MeterProvider `env:"-"`
}

func (s Settings) withDefaults() Settings {
	if s.RetryAfter <= 0 {
		s.RetryAfter = time.Second
	}
	if s.CancelAfter <= 0 {
		s.CancelAfter = 15 * time.Minute
	}
	if s.KeyTTL <= 0 {
		s.KeyTTL = 24 * time.Hour
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// Shop implements Service over a Repository, a Catalog and Payments, and runs the
// checkout saga. It is safe for concurrent use: one saga runs per order at a time
// (Repository.LockOrder), in this process over a SQLite Store, across every replica
// over a PostgresStore.
type Shop struct {
	store    Repository
	catalog  Catalog
	payments Payments
	settings Settings
	metrics  metrics
}

var _ Service = (*Shop)(nil)

// NewShop returns a Shop. store, catalog and payments are required.
func NewShop(store Repository, catalog Catalog, payments Payments, s Settings) *Shop {
	return &Shop{store: store, catalog: catalog, payments: payments, settings: s.withDefaults(),
		metrics: newMetrics(s.MeterProvider, store)}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

func validID(field, v string) error {
	if !idPattern.MatchString(v) {
		return &InvalidError{Field: field, Detail: "must be 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"}
	}
	return nil
}

// MaxQuantity is the largest quantity of one product in a cart.
const MaxQuantity = 1000

// MaxOwnerLength bounds an owner (the Gantry-Principal header).
const MaxOwnerLength = 255

// validOwner accepts "" (no authentication) or 1-255 printable ASCII characters
// without spaces, as the gateway sends them.
func validOwner(owner string) error {
	if len(owner) > MaxOwnerLength {
		return &InvalidError{Field: "principal", Detail: fmt.Sprintf("longer than %d bytes", MaxOwnerLength)}
	}
	for i := 0; i < len(owner); i++ {
		if owner[i] <= 0x20 || owner[i] > 0x7e {
			return &InvalidError{Field: "principal", Detail: "must be printable ASCII without spaces"}
		}
	}
	return nil
}

// PutItem implements Service.
func (s *Shop) PutItem(ctx context.Context, owner, cartID, productID string, quantity int) (Cart, error) {
	if err := errors.Join(validOwner(owner), validID("cart_id", cartID), validID("product_id", productID)); err != nil {
		return Cart{}, err
	}
	if quantity < 1 || quantity > MaxQuantity {
		return Cart{}, &InvalidError{Field: "quantity", Detail: fmt.Sprintf("must be between 1 and %d", MaxQuantity)}
	}
	items, err := s.store.CartItems(ctx, owner, cartID)
	if err != nil && !errors.Is(err, ErrCartNotFound) {
		return Cart{}, err
	}
	// The cart as it would be, priced in one catalog call: one currency, at most
	// MaxLines lines and a total that fits, or nothing is stored.
	i, found := slices.BinarySearchFunc(items, productID, func(it Item, id string) int { return strings.Compare(it.ProductID, id) })
	if found {
		items[i].Quantity = quantity
	} else {
		items = slices.Insert(items, i, Item{ProductID: productID, Quantity: quantity})
	}
	if len(items) > MaxLines {
		return Cart{}, fmt.Errorf("%w: at most %d lines", ErrCartFull, MaxLines)
	}
	products, err := s.catalog.Products(ctx, productIDs(items))
	if err != nil {
		return Cart{}, err
	}
	if _, ok := products[productID]; !ok {
		return Cart{}, fmt.Errorf("%w: %s", ErrProductNotFound, productID)
	}
	if _, err := price(cartID, items, products); err != nil {
		return Cart{}, err
	}
	if err := s.store.PutItem(ctx, owner, cartID, productID, quantity); err != nil {
		return Cart{}, err
	}
	// The cart as stored now (another request may have edited it meanwhile), priced
	// with the products already fetched unless it gained a line they do not cover.
	if items, err = s.store.CartItems(ctx, owner, cartID); err != nil {
		return Cart{}, err
	}
	for _, it := range items {
		if _, ok := products[it.ProductID]; !ok {
			return s.GetCart(ctx, owner, cartID)
		}
	}
	return price(cartID, items, products)
}

// MaxLines is the most lines (distinct products) one cart holds.
const MaxLines = 100

// RemoveItem implements Service.
func (s *Shop) RemoveItem(ctx context.Context, owner, cartID, productID string) (Cart, error) {
	if err := errors.Join(validOwner(owner), validID("cart_id", cartID), validID("product_id", productID)); err != nil {
		return Cart{}, err
	}
	if err := s.store.RemoveItem(ctx, owner, cartID, productID); err != nil {
		return Cart{}, err
	}
	return s.GetCart(ctx, owner, cartID)
}

// GetCart implements Service.
func (s *Shop) GetCart(ctx context.Context, owner, cartID string) (Cart, error) {
	if err := errors.Join(validOwner(owner), validID("cart_id", cartID)); err != nil {
		return Cart{}, err
	}
	items, err := s.store.CartItems(ctx, owner, cartID)
	if err != nil {
		return Cart{}, err
	}
	if len(items) == 0 {
		return Cart{ID: cartID, Items: []Item{}}, nil
	}
	products, err := s.catalog.Products(ctx, productIDs(items)) // one call for every line
	if err != nil {
		return Cart{}, err
	}
	return price(cartID, items, products)
}

func productIDs(items []Item) []string {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	return ids
}

// price returns the cart of items at the prices of products: lines whose product is
// gone from the catalog are left out (not sellable, not shown), and a cart in two
// currencies or with a total past an int64 of cents is an error.
func price(cartID string, items []Item, products map[string]Product) (Cart, error) {
	c := Cart{ID: cartID, Items: []Item{}}
	for _, it := range items {
		p, ok := products[it.ProductID]
		if !ok {
			continue
		}
		if c.Currency != "" && p.Currency != c.Currency {
			return Cart{}, fmt.Errorf("%w: the cart holds %s and %s", ErrCurrencyMismatch, c.Currency, p.Currency)
		}
		if p.PriceCents < 0 || (p.PriceCents > 0 && int64(it.Quantity) > (math.MaxInt64-c.TotalCents)/p.PriceCents) {
			return Cart{}, ErrTotalTooLarge
		}
		it.PriceCents = p.PriceCents
		c.Items = append(c.Items, it)
		c.TotalCents += p.PriceCents * int64(it.Quantity)
		c.Currency = p.Currency
	}
	return c, nil
}

// GetOrder implements Service.
func (s *Shop) GetOrder(ctx context.Context, owner, orderID string) (Order, error) {
	if err := errors.Join(validOwner(owner), validID("order_id", orderID)); err != nil {
		return Order{}, err
	}
	return s.store.OwnedOrder(ctx, owner, orderID)
}

// MaxKeyLength bounds the Idempotency-Key header.
const MaxKeyLength = 255

func validKey(key string) error {
	if key == "" {
		return &InvalidError{Field: "Idempotency-Key", Detail: "header is required"}
	}
	if len(key) > MaxKeyLength {
		return &InvalidError{Field: "Idempotency-Key", Detail: fmt.Sprintf("longer than %d bytes", MaxKeyLength)}
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return &InvalidError{Field: "Idempotency-Key", Detail: "must be printable ASCII"}
		}
	}
	return nil
}

// Checkout implements Service. The first call with a key snapshots the cart and its
// prices into a new pending order; every call with that key then drives the same
// order's saga forward. It returns the order with a nil error when it is paid,
// ErrPaymentDeclined, ErrOutOfStock, ErrOrderCancelled or ErrCheckoutFailed when it
// ended otherwise, and an *UnavailableError while it is pending on a dependency.
func (s *Shop) Checkout(ctx context.Context, owner, cartID, key string) (o Order, err error) {
	defer func() {
		s.metrics.checkouts.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", checkoutOutcome(o, err))))
	}()
	return s.checkout(ctx, owner, cartID, key)
}

func (s *Shop) checkout(ctx context.Context, owner, cartID, key string) (Order, error) {
	if err := errors.Join(validOwner(owner), validID("cart_id", cartID), validKey(key)); err != nil {
		return Order{}, err
	}
	keysFrom := s.settings.Now().Add(-s.settings.KeyTTL) // older keys have expired
	o, err := s.store.OrderByKey(ctx, owner, key, keysFrom)
	replayed := err == nil
	if errors.Is(err, ErrOrderNotFound) {
		o, replayed, err = s.createOrder(ctx, owner, cartID, key, keysFrom)
	}
	if err != nil {
		return Order{}, err
	}
	if o.CartID != cartID {
		// Another request under this key: say so, and nothing of its order.
		return Order{}, ErrKeyReused
	}
	o, err = s.Resume(ctx, o.ID)
	o.Replayed = replayed
	if err != nil {
		return o, err
	}
	return o, outcome(o)
}

func (s *Shop) createOrder(ctx context.Context, owner, cartID, key string, keysFrom time.Time) (Order, bool, error) {
	c, err := s.GetCart(ctx, owner, cartID)
	if err != nil {
		return Order{}, false, err
	}
	if len(c.Items) == 0 {
		return Order{}, false, ErrEmptyCart
	}
	o := Order{ID: newOrderID(), Owner: owner, CartID: cartID, IdempotencyKey: key, TotalCents: c.TotalCents,
		Currency: c.Currency, Items: c.Items}
	stored, created, err := s.store.CreateOrder(ctx, o, keysFrom)
	return stored, !created, err
}

// outcome maps a final order to the error Checkout reports for it.
func outcome(o Order) error {
	switch o.Status {
	case StatusPaid:
		return nil
	case StatusCancelled:
		return fmt.Errorf("%w: order %s", ErrOrderCancelled, o.ID)
	case StatusFailed:
		switch o.Failure {
		case FailureDeclined:
			return fmt.Errorf("%w: order %s", ErrPaymentDeclined, o.ID)
		case FailureOutOfStock:
			return fmt.Errorf("%w: order %s", ErrOutOfStock, o.ID)
		}
		return fmt.Errorf("%w: order %s: %s", ErrCheckoutFailed, o.ID, o.Failure)
	}
	return &UnavailableError{Dependency: "saga", OrderID: o.ID, Err: errors.New("order still pending")}
}

func newOrderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "ord_" + hex.EncodeToString(b[:])
}

// ChargeKey is the payment Idempotency-Key the saga uses for an order. It is derived
// from the order id alone, so every resumption of the saga sends the same key and the
// payment service can never capture twice for one order.
func ChargeKey(orderID string) string { return "charge-" + orderID }

// Validate reports negative durations, naming their environment variables.
func (s Settings) Validate() error {
	var errs []error
	if s.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("CART_RETRY_AFTER: %v is negative", s.RetryAfter))
	}
	if s.CancelAfter < 0 {
		errs = append(errs, fmt.Errorf("CART_CANCEL_AFTER: %v is negative", s.CancelAfter))
	}
	if s.KeyTTL < 0 {
		errs = append(errs, fmt.Errorf("CART_IDEMPOTENCY_KEY_TTL: %v is negative", s.KeyTTL))
	}
	return errors.Join(errs...)
}
