package consul_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/gantry-go/gantry/discovery"
	"github.com/gantry-go/gantry/discovery/consul"
)

// readiness stands in for the observability health registry (health.Registry).
type readiness struct{}

func (readiness) Ready() bool { return true }

func ExampleNewRegistrar() {
	// api.DefaultConfig reads CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN(_FILE), CONSUL_CACERT...
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	reg, err := consul.NewRegistrar(client, readiness{}, consul.Registration{
		Name: "catalog", Address: "10.0.0.5", Port: 8081, Tags: []string{"v1"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reg.ID(), reg.CheckID())
	// In main, hand it to gantry.Run: Options{Drainers: {health, reg}, Registrars: {reg}},
	// which calls reg.Drain, waits the drain delay, then cancels reg.Run (deregister).

	_, err = consul.NewRegistrar(client, readiness{}, consul.Registration{Name: "catalog"})
	fmt.Println(err)
	// Output:
	// catalog-10.0.0.5-8081 service:catalog-10.0.0.5-8081
	// consul: invalid registration: a service name and port are required (DISCOVERY_SERVICE_NAME, DISCOVERY_SERVICE_PORT), got "catalog" and 0
}

func ExampleNewResolver() {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := consul.NewResolver(client, consul.WatchSettings{
		Services: []string{"catalog", "payment"},
		Wait:     time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In main: go r.Run(ctx), or gantry.Options{Components: {r}}; then resolve
	// http://catalog/... URLs through a discovery.Router.
	t := discovery.NewRouter(r, http.DefaultTransport, discovery.BalancerSettings{})
	defer t.Close()
	fmt.Println(r.Services())
	_, err = r.Lookup("cart")
	fmt.Println(err)
	// Output:
	// [catalog payment]
	// discovery: unknown service: "cart"
}
