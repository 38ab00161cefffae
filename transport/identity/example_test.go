package identity_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gantry-go/gantry/transport"
	"github.com/gantry-go/gantry/transport/identity"
)

func ExampleParse() {
	id, err := identity.Parse("spiffe://shop.test/ns/prod/svc/catalog")
	fmt.Println(id.TrustDomain(), id.Namespace(), id.ServiceName(), err)
	_, err = identity.Parse("spiffe://shop.test:8443/ns/prod/svc/catalog")
	fmt.Println(errors.Is(err, identity.ErrInvalidID))
	// Output:
	// shop.test prod catalog <nil>
	// true
}

func ExampleNewID() {
	id, err := identity.NewID("shop.test", "prod", "catalog")
	fmt.Println(id, err)
	// Output: spiffe://shop.test/ns/prod/svc/catalog <nil>
}

// mustSource issues a development certificate for a service of shop.test.
func mustSource(ca *identity.DevCA, service string) *identity.DevSource {
	id, err := identity.NewID(ca.TrustDomain(), "default", service)
	if err != nil {
		panic(err)
	}
	src, err := ca.Source(id, time.Hour)
	if err != nil {
		panic(err)
	}
	return src
}

// ExampleNewDevCA runs a server and a client with mTLS from one development CA: the
// server learns who called, the client that it reached the catalog.
func ExampleNewDevCA() {
	ca, err := identity.NewDevCA("shop.test")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewUnstartedServer(identity.Peer()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := identity.FromContext(r.Context())
		fmt.Fprintln(w, "hello", caller.ServiceName())
	})))
	srv.TLS = identity.ServerConfig(mustSource(ca, "catalog"))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()

	tr := identity.NewTransport(mustSource(ca, "cart"), transport.ClientSettings{})
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	req, _ := http.NewRequestWithContext(identity.WithService(context.Background(), "catalog"), "GET", srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))

	// The same server is not the payment service: the dial fails, no request is sent.
	req, _ = http.NewRequestWithContext(identity.WithService(context.Background(), "payment"), "GET", srv.URL, nil)
	_, err = client.Do(req)
	fmt.Println(errors.Is(err, identity.ErrWrongIdentity))
	// Output:
	// hello cart
	// true
}

func ExampleDevCA_Source() {
	ca, _ := identity.NewDevCA("shop.test")
	id, _ := identity.NewID("shop.test", "default", "cart")
	src, err := ca.Source(id, 10*time.Minute) // renewed every 5 minutes
	if err != nil {
		fmt.Println(err)
		return
	}
	cert, _ := src.Certificate()
	fmt.Println(cert.Leaf.URIs[0], cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore))
	// Output: spiffe://shop.test/ns/default/svc/cart 11m0s
}

// ExampleServerConfig serves with mTLS; ListenAndServeTLS takes no file names, the
// certificate comes from the Source on every handshake.
func ExampleServerConfig() {
	ca, _ := identity.NewDevCA("shop.test")
	srv := transport.NewServer(http.NotFoundHandler(), transport.ServerSettings{Addr: "127.0.0.1:0"})
	srv.TLSConfig = identity.ServerConfig(mustSource(ca, "catalog"))
	// go srv.ListenAndServeTLS("", ""), or hand srv to gantry.Run.
	fmt.Println(srv.TLSConfig.NextProtos, srv.TLSConfig.ClientAuth)
	// Output: [h2 http/1.1] RequireAndVerifyClientCert
}

// ExampleClientConfig dials with mTLS without net/http.
func ExampleClientConfig() {
	ca, _ := identity.NewDevCA("shop.test")
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = identity.ServerConfig(mustSource(ca, "catalog"))
	srv.StartTLS()
	defer srv.Close()
	conn, err := tlsDial(srv.Listener.Addr().String(), identity.ClientConfig(mustSource(ca, "cart")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	fmt.Println(conn.ConnectionState().PeerCertificates[0].URIs[0])
	// Output: spiffe://shop.test/ns/default/svc/catalog
}

func ExampleNewTransport() {
	ca, _ := identity.NewDevCA("shop.test")
	tr := identity.NewTransport(mustSource(ca, "cart"), transport.ClientSettings{})
	defer tr.CloseIdleConnections()
	// Calls go to https:// URLs; WithService on the request context names the service
	// the server must prove to be.
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	fmt.Println(client.Transport != nil)
	// Output: true
}
