package resilience

import (
	"encoding/json"
	"net/http"
	"sort"
)

// Snapshot is the state of a set of policies, as served by DebugHandler. It is a
// plain value, built fresh for each request.
type Snapshot struct {
	Breakers  []BreakerState  `json:"breakers"`
	Limiters  []LimiterState  `json:"limiters"`
	Bulkheads []BulkheadState `json:"bulkheads"`
	Budgets   []BudgetState   `json:"budgets"`
	Shedders  []ShedderState  `json:"shedders"`
}

// Inspectable is implemented by every policy and stack of this package: Inspect
// appends its current state to snap.
type Inspectable interface {
	Inspect(snap *Snapshot)
}

var (
	_ Inspectable = (*Breaker)(nil)
	_ Inspectable = (*BreakerSet)(nil)
	_ Inspectable = (*RateLimiter)(nil)
	_ Inspectable = (*Bulkhead)(nil)
	_ Inspectable = (*Shedder)(nil)
	_ Inspectable = (*Retry)(nil)
	_ Inspectable = (*ClientStack)(nil)
)

// Inspect adds the breaker's state.
func (b *Breaker) Inspect(snap *Snapshot) { snap.Breakers = append(snap.Breakers, b.snapshot()) }

// Inspect adds every breaker of the set.
func (s *BreakerSet) Inspect(snap *Snapshot) { snap.Breakers = append(snap.Breakers, s.snapshot()...) }

// Inspect adds the limiter's state.
func (l *RateLimiter) Inspect(snap *Snapshot) { snap.Limiters = append(snap.Limiters, l.snapshot()) }

// Inspect adds every compartment of the bulkhead.
func (b *Bulkhead) Inspect(snap *Snapshot) { snap.Bulkheads = append(snap.Bulkheads, b.snapshot()...) }

// Inspect adds the shedder's state.
func (s *Shedder) Inspect(snap *Snapshot) { snap.Shedders = append(snap.Shedders, s.snapshot()) }

// Inspect adds the retry budget's state (nothing when the budget is disabled).
func (r *Retry) Inspect(snap *Snapshot) {
	if r.budget != nil {
		snap.Budgets = append(snap.Budgets, r.budget.snapshot())
	}
}

// DebugHandler returns an http.Handler serving the JSON Snapshot of policies, for
// operators; mount it at /debug/resilience on an internal port. Every request takes
// a fresh snapshot; breakers are sorted by name. It is safe for concurrent use.
func DebugHandler(policies ...Inspectable) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap := Snapshot{Breakers: []BreakerState{}, Limiters: []LimiterState{}, Bulkheads: []BulkheadState{},
			Budgets: []BudgetState{}, Shedders: []ShedderState{}}
		for _, p := range policies {
			p.Inspect(&snap)
		}
		sort.Slice(snap.Breakers, func(i, j int) bool { return snap.Breakers[i].Name < snap.Breakers[j].Name })
		sort.Slice(snap.Bulkheads, func(i, j int) bool {
			a, b := snap.Bulkheads[i], snap.Bulkheads[j]
			return a.Name < b.Name || (a.Name == b.Name && a.Key < b.Key)
		})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(snap)
	})
}
