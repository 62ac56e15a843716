package mxroute_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxroute-go/mxroute"
)

// Deliver a message: Dial finds the mail host that greets, go-smtp speaks
// SMTP over the Conn. Here a go-smtp server on loopback plays
// mx1.shop.example at 192.0.2.11, and every other address of the example
// zone refuses; a real Dialer needs no DialContext and dials port 25.
func ExampleDialer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	received := make(chan string, 1)
	srv := smtp.NewServer(exampleBackend{received})
	srv.Domain = "mx1.shop.example"
	served := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(served) }()
	defer func() { _ = srv.Close(); <-served }()

	d := &mxroute.Dialer{
		Router: &mxroute.Router{Resolver: exampleResolver(), Rand: rand.New(rand.NewPCG(1, 2))},
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			if address != "192.0.2.11:25" {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", ln.Addr().String())
		},
		Stagger: 250 * time.Millisecond, // RFC 8305's recommended delay
	}
	conn, err := d.Dial(context.Background(), "shop.example")
	if err != nil {
		fmt.Println(err) // mxroute.IsTemporary(err): defer; else bounce
		return
	}
	for _, a := range conn.Attempts {
		fmt.Println("passed over:", a.Target.Host, a.Target.Addr, a.Failure)
	}
	fmt.Println("connected:", conn.Target.Host, conn.Target.Addr)
	fmt.Println("greeting:", conn.Greeting)

	c := smtp.NewClient(conn) // reads the greeting again from the Conn
	defer c.Close()
	if err := c.Hello("relay.example.net"); err != nil {
		panic(err)
	}
	msg := "Subject: hello\r\n\r\nDelivered over a Conn.\r\n"
	if err := c.SendMail("alice@example.net", []string{"bob@shop.example"}, strings.NewReader(msg)); err != nil {
		panic(err)
	}
	if err := c.Quit(); err != nil {
		panic(err)
	}
	fmt.Print(<-received)
	// Output:
	// passed over: mx2.shop.example 192.0.2.12 refused
	// passed over: mx1.shop.example 2001:db8::11 refused
	// connected: mx1.shop.example 192.0.2.11
	// greeting: 220 mx1.shop.example ESMTP Service Ready
	// from alice@example.net to [bob@shop.example]:
	// Subject: hello
	//
	// Delivered over a Conn.
}

// exampleBackend is the go-smtp server's side of ExampleDialer: it passes
// every message it receives to its channel.
type exampleBackend struct{ received chan<- string }

func (b exampleBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &exampleSession{received: b.received}, nil
}

type exampleSession struct {
	received chan<- string
	from     string
	to       []string
}

func (s *exampleSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *exampleSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *exampleSession) Reset()        { s.from, s.to = "", nil }
func (s *exampleSession) Logout() error { return nil }

func (s *exampleSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.received <- fmt.Sprintf("from %s to %v:\n%s", s.from, s.to, strings.ReplaceAll(string(body), "\r\n", "\n"))
	return nil
}
