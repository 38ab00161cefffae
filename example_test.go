package gantry_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gantry-go/gantry"
	"github.com/gantry-go/gantry/transport"
)

func ExampleRun() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	})
	srv := transport.NewServer(transport.Chain(transport.Recover(nil), transport.RequestID())(mux),
		transport.ServerSettings{Addr: "127.0.0.1:0"})
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fmt.Println(err)
		return
	}

	// In main, ctx is context.Background() and SIGTERM starts the shutdown; here the
	// example cancels ctx itself once it has made a request.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- gantry.Run(ctx, gantry.Options{
			Servers: []gantry.Server{{Server: srv, Listener: ln}},
			Background: []gantry.Runner{gantry.RunnerFunc(func(ctx context.Context) error {
				<-ctx.Done() // e.g. a cache refresher
				fmt.Println("background stopped")
				return nil
			})},
			Telemetry: []gantry.Shutdowner{gantry.ShutdownerFunc(func(context.Context) error {
				fmt.Println("telemetry flushed")
				return nil
			})},
			Settings: gantry.Settings{DrainDelay: 10 * time.Millisecond, Timeout: 5 * time.Second},
		})
	}()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/hello")
	if err != nil {
		fmt.Println(err)
		cancel()
		<-done
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	cancel()
	fmt.Println("Run returned", <-done)
	// Output:
	// 200 hello
	// background stopped
	// telemetry flushed
	// Run returned <nil>
}
