package payment

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Domain errors. The transport maps each to an HTTP status; callers branch on them
// with errors.Is.
var (
	// ErrNotFound: no payment has this id.
	ErrNotFound = errors.New("payment: payment not found")
	// ErrKeyRequired: a charge was asked for without an idempotency key.
	ErrKeyRequired = errors.New("payment: idempotency key required")
	// ErrKeyReused: the idempotency key was used before for a different request.
	ErrKeyReused = errors.New("payment: idempotency key reused with a different request")
	// ErrVoided: the idempotency key was voided before any charge used it (Void): no
	// charge is made with it (409).
	ErrVoided = errors.New("payment: idempotency key voided: the order was given up")
	// ErrInFlight: a request with the same idempotency key is still being processed.
	ErrInFlight = errors.New("payment: a request with this idempotency key is in progress")
	// ErrAlreadyCharged: the order already has a payment that moved money.
	ErrAlreadyCharged = errors.New("payment: order already charged")
	// ErrNotRefundable: only captured (or already refunded) payments can be refunded.
	ErrNotRefundable = errors.New("payment: payment is not refundable")
	// ErrUnavailable: the card processor failed before any money moved; retry later.
	ErrUnavailable = errors.New("payment: card processor unavailable")
	// ErrInvalid: the request is malformed. The error is an *InvalidError naming the
	// field.
	ErrInvalid = errors.New("payment: invalid request")
)

// InFlightError is the ErrInFlight of a key another request claimed: Remaining is the
// time until that claim's lease expires, after which a retry may take the key over.
// It implements transport.RetryAfterer, so the 409 carries Retry-After. Immutable.
type InFlightError struct {
	Remaining time.Duration
}

func (e *InFlightError) Error() string { return ErrInFlight.Error() }

// Is makes errors.Is(err, ErrInFlight) true.
func (e *InFlightError) Is(target error) bool { return target == ErrInFlight }

// RetryAfter is the remaining lease, at least one second.
func (e *InFlightError) RetryAfter() time.Duration { return max(e.Remaining, time.Second) }

// InvalidError is a request field that fails validation. errors.Is(err, ErrInvalid)
// matches it. It is an immutable value, safe for concurrent use.
type InvalidError struct {
	Field  string
	Reason string
}

// Error names the field and the reason.
func (e *InvalidError) Error() string {
	return "payment: invalid request: " + e.Field + ": " + e.Reason
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Payment statuses.
const (
	StatusCaptured = "captured"
	StatusDeclined = "declined"
	StatusRefunded = "refunded"
)

// Limits on a charge request.
const (
	MaxAmountCents = 100_000_000
	MaxIDLength    = 128
	MaxKeyLength   = 255
)

// ChargeRequest asks to charge an order.
type ChargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// Payment is one charge attempt in the ledger.
type Payment struct {
	ID            string    `json:"id"`
	OrderID       string    `json:"order_id"`
	AmountCents   int64     `json:"amount_cents"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	DeclineReason string    `json:"decline_reason,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// ChargeResult is the answer to a charge: the payment as it was when the charge
// completed, and whether this is a replay of an earlier answer for the same key.
type ChargeResult struct {
	Payment  Payment
	Replayed bool
}

// Service is the payment domain API. Implementations are safe for concurrent use.
type Service interface {
	// Charge charges an order once per idempotency key (see the package
	// documentation). A declined card is not an error: the payment has status
	// "declined". Errors: ErrKeyRequired, ErrInvalid, ErrKeyReused, ErrInFlight,
	// ErrAlreadyCharged, ErrUnavailable.
	Charge(ctx context.Context, key string, req ChargeRequest) (ChargeResult, error)
	// Void settles the charge of key for a caller that gives its order up: a key no
	// charge has used is voided (Voided true; a charge with it later is ErrVoided),
	// so no money can move for it; a key that was used answers as Charge with it
	// would: the stored payment (captured, to refund, or declined), ErrInFlight while
	// a live request holds it, and, for a claim abandoned past its lease, the charge
	// finished by the processor's key. req must be the charge the key was meant for.
	Void(ctx context.Context, key string, req ChargeRequest) (VoidResult, error)
	// Get returns a payment or ErrNotFound.
	Get(ctx context.Context, id string) (Payment, error)
	// ListByOrder returns the order's payments, oldest first (empty, not an error,
	// for an unknown order).
	ListByOrder(ctx context.Context, orderID string) ([]Payment, error)
	// Refund refunds a captured payment; refunding a refunded one returns it as is.
	// Errors: ErrNotFound, ErrNotRefundable, ErrUnavailable.
	Refund(ctx context.Context, id string) (Payment, error)
}

// Processor is the card network as the service needs it. Both methods fail with an
// error wrapping ErrUnavailable when no money moved.
//
// Authorize is called with the charge's idempotency key, the same for every attempt
// at one charge: a retry after a failure, a takeover after a lease expired, a call
// after a crash between the processor's answer and the ledger's commit. The
// processor must be idempotent on it, as real acquirers are on theirs: a key it has
// decided returns that decision and moves no more money, and a key still being
// decided fails with ErrUnavailable. Refund is called with the payment, whose id is
// its idempotency key.
type Processor interface {
	Authorize(ctx context.Context, key string, req ChargeRequest) (Decision, error)
	Refund(ctx context.Context, p Payment) error
}

// Decision is a processor's answer to a charge.
type Decision struct {
	Approved bool
	// Reason says why a charge was declined, e.g. "card_declined".
	Reason string
}

// Settings tunes the service. The zero value is ready to use.
type Settings struct {
	// Lease is how long a claimed idempotency key blocks duplicates (409) before the
	// claim counts as abandoned (its process died before committing) and a retry may
	// process the charge. The processor's answer is awaited for at most half of it, so
	// a live call is over before its claim can be taken over. Measured on the
	// database's clock, so replicas whose clocks disagree agree on it. Default 30s.
	Lease time.Duration `env:"PAYMENT_IDEMPOTENCY_LEASE" envDefault:"30s"`
	// Now returns the current time, for the times the ledger records (a payment's
	// created_at, a refund's); nil means time.Now. It never decides a lease.
	Now func() time.Time `env:"-"`
	// AfterCommit, when set, is called after a charge committed and before it is
	// answered. Tests use it to simulate a crash at the worst moment; leave it nil.
	AfterCommit func(Payment) `env:"-"`
}

// Validate reports invalid fields, each naming its environment variable.
func (s Settings) Validate() error {
	if s.Lease < 0 {
		return config.Invalid("PAYMENT_IDEMPOTENCY_LEASE", "%v is negative", s.Lease)
	}
	return nil
}

// Ledger is the persistence the service charges on: the payments and the idempotency
// keys. *Store (SQLite) and *PostgresStore implement it with one contract, which the
// service's exactly-once guarantee rests on (see Store's methods). Implementations
// are safe for concurrent use, also from several processes on one database.
type Ledger interface {
	Claim(ctx context.Context, key, hash string, lease time.Duration) (Claim, error)
	VoidUnclaimed(ctx context.Context, key string, now time.Time) (bool, error)
	Complete(ctx context.Context, key, token string, p Payment) error
	Unclaim(ctx context.Context, key, token string) error
	Get(ctx context.Context, id string) (Payment, error)
	ListByOrder(ctx context.Context, orderID string) ([]Payment, error)
	MarkRefunded(ctx context.Context, id string, now time.Time) (Payment, error)
}

var (
	_ Ledger = (*Store)(nil)
	_ Ledger = (*PostgresStore)(nil)
)

// NewService returns the payment service over store, charging through proc.
func NewService(store Ledger, proc Processor, s Settings) Service {
	if s.Lease <= 0 {
		s.Lease = 30 * time.Second
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &service{store: store, proc: proc, set: s}
}

type service struct {
	store Ledger
	proc  Processor
	set   Settings
}

var _ Service = (*service)(nil)

func (s *service) Charge(ctx context.Context, key string, req ChargeRequest) (ChargeResult, error) {
	if err := ValidateKey(key); err != nil {
		return ChargeResult{}, err
	}
	if err := ValidateCharge(req); err != nil {
		return ChargeResult{}, err
	}
	c, err := s.store.Claim(ctx, key, requestHash(req), s.set.Lease)
	if err != nil {
		return ChargeResult{}, err
	}
	if c.Completed != nil {
		return ChargeResult{Payment: *c.Completed, Replayed: true}, nil
	}
	// This request owns the key. Nothing has moved yet: on any failure before the
	// commit, drop the claim so that a retry can start over at once.
	drop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.store.Unclaim(ctx, key, c.Token)
	}
	dec, err := s.authorize(ctx, key, req, drop)
	if err != nil {
		drop()
		return ChargeResult{}, err
	}
	p := Payment{
		ID:          "pay_" + strings.ToLower(rand.Text()),
		OrderID:     req.OrderID,
		AmountCents: req.AmountCents,
		Currency:    req.Currency,
		Status:      StatusCaptured,
		// To the microsecond, the precision both stores keep: the answer, its replay
		// and a later read show one time.
		CreatedAt: s.set.Now().UTC().Truncate(time.Microsecond),
	}
	if !dec.Approved {
		p.Status, p.DeclineReason = StatusDeclined, dec.Reason
	}
	// The processor has answered: record the answer even if the client has gone
	// away meanwhile, so that its retry finds it.
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.store.Complete(commitCtx, key, c.Token, p); err != nil {
		drop()
		return ChargeResult{}, err
	}
	if s.set.AfterCommit != nil {
		s.set.AfterCommit(p)
	}
	return ChargeResult{Payment: p}, nil
}

// authorize asks the processor, within half the lease. A panic below releases the
// claim before it goes on up (the server's Recover answers 500): the key is the
// processor's too, so the retry that follows moves no more money.
func (s *service) authorize(ctx context.Context, key string, req ChargeRequest, drop func()) (Decision, error) {
	defer func() {
		if r := recover(); r != nil {
			drop()
			panic(r)
		}
	}()
	bounded, cancel := context.WithTimeout(ctx, s.set.Lease/2)
	defer cancel()
	dec, err := s.proc.Authorize(bounded, key, req)
	if err != nil && ctx.Err() == nil && bounded.Err() != nil {
		// Our bound, not the caller's: the processor was too slow. Its key makes the
		// retry safe whether or not it decided.
		return Decision{}, &UnavailableError{Retry: retryAfter}
	}
	return dec, err
}

// VoidResult is Void's answer: Voided, or the charge the key made.
type VoidResult struct {
	Voided bool
	ChargeResult
}

func (s *service) Void(ctx context.Context, key string, req ChargeRequest) (VoidResult, error) {
	if err := ValidateKey(key); err != nil {
		return VoidResult{}, err
	}
	if err := ValidateCharge(req); err != nil {
		return VoidResult{}, err
	}
	voided, err := s.store.VoidUnclaimed(ctx, key, s.set.Now())
	if err != nil || voided {
		return VoidResult{Voided: voided}, err
	}
	res, err := s.Charge(ctx, key, req)
	return VoidResult{ChargeResult: res}, err
}

func (s *service) Get(ctx context.Context, id string) (Payment, error) {
	if checkID("id", id) != nil {
		return Payment{}, ErrNotFound
	}
	return s.store.Get(ctx, id)
}

func (s *service) ListByOrder(ctx context.Context, orderID string) ([]Payment, error) {
	if err := checkID("order_id", orderID); err != nil {
		return nil, err
	}
	return s.store.ListByOrder(ctx, orderID)
}

func (s *service) Refund(ctx context.Context, id string) (Payment, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	switch p.Status {
	case StatusRefunded:
		return p, nil
	case StatusDeclined:
		return Payment{}, ErrNotRefundable
	}
	if err := s.proc.Refund(ctx, p); err != nil {
		return Payment{}, err
	}
	return s.store.MarkRefunded(ctx, id, s.set.Now())
}

// ValidateKey checks an idempotency key: 1 to MaxKeyLength printable ASCII
// characters. A missing key is ErrKeyRequired, a bad one an *InvalidError.
func ValidateKey(key string) error {
	if key == "" {
		return ErrKeyRequired
	}
	if len(key) > MaxKeyLength {
		return invalid("Idempotency-Key", "longer than %d bytes", MaxKeyLength)
	}
	for i := range len(key) {
		if key[i] < 0x21 || key[i] > 0x7e {
			return invalid("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// ValidateCharge checks a charge request: an order id, an amount from 1 to
// MaxAmountCents and a currency of three capital letters (ISO 4217).
func ValidateCharge(req ChargeRequest) error {
	if err := checkID("order_id", req.OrderID); err != nil {
		return err
	}
	if req.AmountCents < 1 || req.AmountCents > MaxAmountCents {
		return invalid("amount_cents", "must be from 1 to %d", int64(MaxAmountCents))
	}
	if len(req.Currency) != 3 || strings.ContainsFunc(req.Currency, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return invalid("currency", "must be three capital letters (ISO 4217)")
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

// requestHash fingerprints a decoded request, so that a replay with the same
// meaning matches whatever its JSON spacing or field order.
func requestHash(req ChargeRequest) string {
	b, _ := json.Marshal(req) // a struct of strings and ints always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
