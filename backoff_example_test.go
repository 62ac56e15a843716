package mxroute_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/mxroute-go/mxroute"
)

// Remember what could not be reached: the first Dial finds mx2's address
// dead (a connect timeout, made instant here) and mx1's IPv6 address
// refusing; the second tries both after mx1's IPv4 address, which greets,
// so neither is dialled. The DialContext hook plays the network.
func ExampleDialer_backoff() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "220 mx1.shop.example ESMTP\r\n")
			_ = c.Close()
		}
	}()

	store := &mxroute.MemoryBackoff{} // share one among the process's Dialers
	d := &mxroute.Dialer{
		Router: &mxroute.Router{Resolver: exampleResolver(), Rand: rand.New(rand.NewPCG(1, 2)),
			Trace: func(_ context.Context, e mxroute.Event) {
				if e.Step == mxroute.StepBackoff && strings.HasSuffix(e.Message, "tried after the others") {
					fmt.Println("  held back:", e.Host, e.Count, "failure(s)")
				}
			}},
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			switch address {
			case "192.0.2.12:25":
				return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
			case "[2001:db8::11]:25":
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", ln.Addr().String())
		},
		Backoff: store,
	}
	for i := range 2 {
		fmt.Println("delivery", i+1)
		conn, err := d.Dial(context.Background(), "shop.example")
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, a := range conn.Attempts {
			fmt.Println("  passed over:", a.Target.Addr, a.Failure)
		}
		fmt.Println("  connected:", conn.Target.Addr)
		conn.Close()
	}
	entries, _ := store.Entries(context.Background())
	for _, e := range entries {
		fmt.Println("remembered:", e.Addr, e.Failures, e.Reason)
	}
	// Output:
	// delivery 1
	//   passed over: 192.0.2.12 connect-timeout
	//   passed over: 2001:db8::11 refused
	//   connected: 192.0.2.11
	// delivery 2
	//   held back: mx2.shop.example 1 failure(s)
	//   held back: mx1.shop.example 1 failure(s)
	//   connected: 192.0.2.11
	// remembered: 192.0.2.12:25 1 connect-timeout
	// remembered: [2001:db8::11]:25 1 refused
}
