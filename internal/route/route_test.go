package route_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gantry-go/gantry/internal/route"
)

func TestKeep(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(http.ResponseWriter, *http.Request) {})
	tests := []struct {
		name  string
		outer string // the outer request's Pattern before Keep
		want  string
	}{
		{name: "carries the inner pattern out", want: "GET /items/{id}"},
		{name: "keeps an outer pattern", outer: "GET /", want: "GET /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outer := httptest.NewRequest("GET", "/items/7", nil)
			outer.Pattern = tt.outer
			inner := outer.WithContext(t.Context())
			mux.ServeHTTP(httptest.NewRecorder(), inner)
			route.Keep(outer, inner)
			if outer.Pattern != tt.want {
				t.Errorf("Keep(%q, %q) left outer.Pattern = %q, want %q", tt.outer, inner.Pattern, outer.Pattern, tt.want)
			}
		})
	}
}
