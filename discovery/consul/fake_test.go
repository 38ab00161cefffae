package consul

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
)

func TestNextIndex(t *testing.T) {
	for _, tt := range []struct{ prev, got, want uint64 }{
		{0, 10, 10},  // first answer
		{10, 10, 10}, // wait timed out, no change
		{10, 12, 12}, // change
		{12, 5, 0},   // went backwards: reset
		{0, 0, 1},    // a zero index would make the next query return at once
		{7, 0, 1},
	} {
		if got := NextIndex(tt.prev, tt.got); got != tt.want {
			t.Errorf("NextIndex(%d, %d) = %d, want %d", tt.prev, tt.got, got, tt.want)
		}
	}
}

func TestBackoffStaysWithinBoundsWithJitter(t *testing.T) {
	lo, hi := 500*time.Millisecond, 2*time.Second
	seen := map[time.Duration]bool{}
	for n := 1; n <= 40; n++ {
		d := backoff(n, lo, hi)
		want := min(lo<<min(n-1, 10), hi)
		if d < want/2 || d >= want {
			t.Errorf("backoff(%d) = %v, want within [%v, %v)", n, d, want/2, want)
		}
		seen[d] = true
	}
	if len(seen) < 30 {
		t.Errorf("backoff gave %d distinct delays in 40 calls, want jitter", len(seen))
	}
}

// fakeAgent is a hand-written Consul health endpoint whose X-Consul-Index the test
// scripts, recording the index each query waited on. It answers at once.
type fakeAgent struct {
	mu      sync.Mutex
	indexes []uint64 // X-Consul-Index to answer with, one per query; the last repeats
	waited  []string // the ?index= of each query
	passing []string // ?passing values
	tags    [][]string
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waited = append(f.waited, r.URL.Query().Get("index"))
	f.passing = append(f.passing, r.URL.Query().Get("passing"))
	f.tags = append(f.tags, r.URL.Query()["tag"])
	idx := f.indexes[0]
	if len(f.indexes) > 1 {
		f.indexes = f.indexes[1:]
	}
	w.Header().Set("X-Consul-Index", strconv.FormatUint(idx, 10))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode([]*api.ServiceEntry{{
		Node:    &api.Node{Address: "10.0.0.9"},
		Service: &api.AgentService{ID: fmt.Sprintf("i-%d", idx), Port: 80},
	}})
}

func (f *fakeAgent) queries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waited)
}

// The index rules against a scripted agent: each query waits on the last index,
// an index going backwards resets to 0, a zero index is waited on as 1.
func TestWatchFollowsIndexRules(t *testing.T) {
	fa := &fakeAgent{indexes: []uint64{5, 9, 9, 3, 0, 4, 4}}
	srv := httptest.NewServer(fa)
	defer srv.Close()
	c, err := api.NewClient(&api.Config{Address: strings.TrimPrefix(srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(c, WatchSettings{Services: []string{"svc"}, Tags: []string{"a", "b"}, MinInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	f, _ := r.Lookup("svc")
	waitFeed(t, f, 5*time.Second, "index 4 published", func(s discovery.Snapshot) bool { return s.Index == 4 })
	for fa.queries() < 7 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v, want nil", err)
	}
	fa.mu.Lock()
	defer fa.mu.Unlock()
	want := []string{"", "5", "9", "9", "", "1", "4"}
	if d := cmp.Diff(want, fa.waited[:7]); d != "" {
		t.Errorf("waited indexes (-want +got):\n%s", d)
	}
	for i := range fa.waited {
		if fa.passing[i] != "1" || !cmp.Equal(fa.tags[i], []string{"a", "b"}) {
			t.Fatalf("query %d: passing=%q tags=%v, want passing=1 and tags [a b]", i, fa.passing[i], fa.tags[i])
		}
	}
}
