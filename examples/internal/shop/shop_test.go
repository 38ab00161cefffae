package shop_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/gantry-go/gantry/examples/internal/shop"
)

func TestNewFailsCleanlyWhenAPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = shop.New(context.Background(), shop.Options{DataDir: t.TempDir(), Addrs: map[string]string{"cart": taken.Addr().String()}})
	if err == nil || !strings.Contains(err.Error(), "cart: listen on "+taken.Addr().String()) {
		t.Fatalf("shop.New(cart on a taken port) = %v, want an error naming cart and the address", err)
	}
	// What was opened before the failure was released: the same options minus the
	// taken port work at once, in the same data directory.
	dir := t.TempDir()
	if _, err := shop.New(context.Background(), shop.Options{DataDir: dir, Addrs: map[string]string{"gateway": taken.Addr().String()}}); err == nil {
		t.Fatal("shop.New(gateway on a taken port) = nil error")
	}
	s, err := shop.New(context.Background(), shop.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("shop.New() after a failed attempt = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

func TestNewRequiresADataDirectory(t *testing.T) {
	if _, err := shop.New(context.Background(), shop.Options{}); err == nil {
		t.Error("shop.New(no data dir) = nil error, want one")
	}
}
