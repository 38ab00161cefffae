package consultest

import (
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestAgentStartStopRestart(t *testing.T) {
	a := Start(t)
	c := a.Client()
	reg := &api.AgentServiceRegistration{ID: "x1", Name: "x", Port: 1234, Address: "127.0.0.1"}
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatalf("ServiceRegister() error = %v", err)
	}
	if svcs, _, err := c.Catalog().Service("x", "", nil); err != nil || len(svcs) != 1 {
		t.Fatalf("Catalog().Service(x) = %v, %v; want 1 instance", len(svcs), err)
	}
	a.Restart()
	svcs, _, err := c.Catalog().Service("x", "", nil)
	if err != nil || len(svcs) != 0 {
		t.Fatalf("after Restart, Catalog().Service(x) = %d instances, %v; want 0 (empty state)", len(svcs), err)
	}
	a.Stop()
	if _, err := c.Status().Leader(); err == nil {
		t.Fatal("after Stop, Status().Leader() succeeded, want an error")
	}
}
