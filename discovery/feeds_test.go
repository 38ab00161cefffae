package discovery_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-go/gantry/discovery"
)

func TestFeeds(t *testing.T) {
	fs := discovery.Feeds{"payment": discovery.NewFeed("payment"), "catalog": discovery.NewFeed("catalog")}
	if got, want := fs.Services(), []string{"catalog", "payment"}; !slices.Equal(got, want) {
		t.Errorf("Services() = %v, want %v", got, want)
	}
	if f, err := fs.Lookup("catalog"); err != nil || f.Service() != "catalog" {
		t.Errorf("Lookup(catalog) = %v, %v, want the catalog feed", f, err)
	}
	if _, err := fs.Lookup("cart"); !errors.Is(err, discovery.ErrUnknownService) {
		t.Errorf("Lookup(cart) = %v, want ErrUnknownService", err)
	}
}
