package shoptest

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Step names a saga call that a fault can hit.
type Step string

// The saga's remote steps.
const (
	StepReserve Step = "reserve" // catalog POST /reservations
	StepCharge  Step = "charge"  // payment POST /payments
	StepConfirm Step = "confirm" // catalog POST /reservations/{id}/confirm
)

// Kind is a fault kind.
type Kind string

// Fault kinds. "Before" faults never reach the service; "after" faults let it commit
// and then lose the response, which is what makes idempotency matter.
const (
	Unavailable Kind = "503"          // answer 503 + Retry-After without calling the service
	Down        Kind = "down"         // drop the connection without calling the service
	Timeout     Kind = "timeout"      // call the service, then hang until the client gives up
	Reset       Kind = "reset"        // call the service, then reset the TCP connection (RST)
	HangBefore  Kind = "hang-before"  // hang until the client gives up, without calling the service
	ResetBefore Kind = "reset-before" // reset the connection without calling the service
	NoFault     Kind = "none"         // pass through
)

// Fault is one planned fault.
type Fault struct {
	Step Step
	Kind Kind
}

// Faults injects one fault per order at a step chosen at random when the order is
// first seen, then passes everything through. It wraps the catalog and payment
// handlers (Wrap) and recognises the order of each request from its body (reserve,
// charge) or from the reservation id it learned (confirm).
//
// Faults is safe for concurrent use.
type Faults struct {
	mu       sync.Mutex
	rng      *rand.Rand
	enabled  bool
	plans    map[string]*plan  // order id -> plan
	resOrder map[string]string // reservation id -> order id
	fired    map[Fault]int
	choices  []Fault
}

type plan struct {
	f     Fault
	fired bool
}

// NewFaults returns a Faults injector drawing plans from choices with a PCG seeded by
// seed. It starts enabled.
func NewFaults(seed uint64, choices []Fault) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), enabled: true,
		plans: map[string]*plan{}, resOrder: map[string]string{}, fired: map[Fault]int{}, choices: choices}
}

// SetEnabled turns injection on or off (heal).
func (f *Faults) SetEnabled(on bool) {
	f.mu.Lock()
	f.enabled = on
	f.mu.Unlock()
}

// Fired returns how many times each fault fired.
func (f *Faults) Fired() map[Fault]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[Fault]int, len(f.fired))
	for k, v := range f.fired {
		out[k] = v
	}
	return out
}

// take returns the fault to inject for order at step, at most once per order.
func (f *Faults) take(order string, step Step) Kind {
	f.mu.Lock()
	defer f.mu.Unlock()
	if order == "" {
		return NoFault
	}
	p, ok := f.plans[order]
	if !ok {
		p = &plan{f: f.choices[f.rng.IntN(len(f.choices))]}
		f.plans[order] = p
	}
	if !f.enabled || p.fired || p.f.Step != step {
		return NoFault
	}
	p.fired = true
	f.fired[p.f]++
	return p.f.Kind
}

func (f *Faults) learnReservation(resID, order string) {
	f.mu.Lock()
	f.resOrder[resID] = order
	f.mu.Unlock()
}

func (f *Faults) orderOfReservation(resID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resOrder[resID]
}

// WrapCatalog returns h with reserve and confirm faults.
func (f *Faults) WrapCatalog(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/reservations":
			body, order := peekOrder(r)
			kind := f.take(order, StepReserve)
			rec := httptest.NewRecorder()
			inject(kind, w, r, func() { h.ServeHTTP(rec, withBody(r, body)) }, rec)
			var res struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &res) == nil && res.ID != "" {
				f.learnReservation(res.ID, order)
			}
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/reservations/") && strings.HasSuffix(r.URL.Path, "/confirm"):
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/reservations/"), "/confirm")
			kind := f.take(f.orderOfReservation(id), StepConfirm)
			rec := httptest.NewRecorder()
			inject(kind, w, r, func() { h.ServeHTTP(rec, r) }, rec)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// WrapPayment returns h with charge faults.
func (f *Faults) WrapPayment(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/payments" {
			h.ServeHTTP(w, r)
			return
		}
		body, order := peekOrder(r)
		kind := f.take(order, StepCharge)
		rec := httptest.NewRecorder()
		inject(kind, w, r, func() { h.ServeHTTP(rec, withBody(r, body)) }, rec)
	})
}

// inject applies kind around serve, which writes into rec; rec is copied to w when
// the response is delivered.
func inject(kind Kind, w http.ResponseWriter, r *http.Request, serve func(), rec *httptest.ResponseRecorder) {
	switch kind {
	case Unavailable:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"title":"Service Unavailable","status":503,"detail":"injected fault"}`)
		return
	case Down:
		closeConn(w, false)
		return
	case ResetBefore:
		closeConn(w, true)
		return
	case HangBefore:
		<-r.Context().Done()
		return
	}
	serve()
	switch kind {
	case Timeout:
		<-r.Context().Done()
		return
	case Reset:
		closeConn(w, true)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// closeConn hijacks the connection and closes it; with rst, SO_LINGER 0 makes the
// close send a TCP RST ("connection reset by peer").
func closeConn(w http.ResponseWriter, rst bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func peekOrder(r *http.Request) ([]byte, string) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = r.Body.Close()
	var v struct {
		OrderID string `json:"order_id"`
	}
	_ = json.Unmarshal(body, &v)
	return body, v.OrderID
}

func withBody(r *http.Request, body []byte) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	return r2
}
