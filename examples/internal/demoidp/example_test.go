package demoidp_test

import (
	"context"
	"fmt"

	"github.com/gantry-go/gantry/examples/internal/demoidp"
	"github.com/gantry-go/gantry/transport/auth"
)

// ExampleNew runs the demo issuer and verifies one of its tokens with a stock
// transport/auth Verifier that knows only the issuer and the audience.
func ExampleNew() {
	p, err := demoidp.New(demoidp.Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	v, err := auth.NewVerifier(ctx, auth.Settings{Issuer: p.Issuer(), Audience: []string{p.Audience()}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, _ := p.Token(ctx, "operator")
	pr, err := v.Verify(ctx, tok)
	fmt.Println(pr.Subject, pr.HasRole(demoidp.RoleOperator), err)
	cancel()
	fmt.Println(<-done)
	// Output:
	// operator true <nil>
	// <nil>
}
