package mxroute_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/testpki"
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

// Deliver under DANE with StartTLS: the Dialer does EHLO and STARTTLS and
// checks each host's TLSA records, so that go-smtp's plain NewClient
// speaks over a verified TLS session, with no STARTTLS of its own. Here
// mx1 presents a key its TLSA record does not name: it is passed over, and
// mx2, whose record matches, gets the message; no DNS is asked again. Two
// go-smtp servers on loopback play the hosts, with keys made on the spot;
// the zone is read as a validating resolver would vouch for it.
func ExampleDialer_startTLS() {
	wrong, _ := testpki.Make(nil, testpki.Template{CommonName: "mx1.secure.example"})
	right, _ := testpki.Make(nil, testpki.Template{CommonName: "mx2.secure.example"})
	tlsa, _ := dane.NewRecord(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, right.Cert)
	zone := fmt.Sprintf(`$ORIGIN secure.example.
@            3600 IN SOA ns hostmaster 1 3600 600 86400 300
@            IN MX 10 mx1
@            IN MX 20 mx2
mx1          IN A 192.0.2.21
mx2          IN A 192.0.2.22
_25._tcp.mx1 IN TLSA %[1]s
_25._tcp.mx2 IN TLSA %[1]s
`, tlsa)
	z, err := mxroute.NewZoneResolver(strings.NewReader(zone), "secure.example.")
	if err != nil {
		panic(err)
	}
	signed := mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m, err := z.Resolve(ctx, name, qtype)
		if m != nil {
			m.AuthenticatedData = true // a DNSResolver with DNSSEC sets it from a validating resolver
		}
		return m, err
	})

	received := make(chan string, 1)
	addrs := map[string]string{}
	for addr, cert := range map[string]*testpki.Cert{"192.0.2.21:25": wrong, "192.0.2.22:25": right} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		srv := smtp.NewServer(exampleBackend{received})
		srv.Domain = "mx.secure.example"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
		go func() { _ = srv.Serve(ln) }()
		defer func() { _ = srv.Shutdown(context.Background()) }() // waits for the sessions, all ended by then
		addrs[addr] = ln.Addr().String()
	}

	d := &mxroute.Dialer{
		Router:   &mxroute.Router{Resolver: signed, DANE: true},
		StartTLS: true,
		Hello:    "relay.example.net",
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", addrs[address])
		},
	}
	conn, err := d.Dial(context.Background(), "secure.example")
	if err != nil {
		fmt.Println(err) // e.g. 4.7.5 when no host passes: defer
		return
	}
	for _, a := range conn.Attempts {
		fmt.Println("passed over:", a.Target.Host, a.Target.Addr, a.Failure, string(a.TLSResult))
	}
	fmt.Println("connected:", conn.Target.Host, conn.Target.Addr, "over", tls.VersionName(conn.TLSState.Version))
	fmt.Println("policy:", conn.TLS)

	c := smtp.NewClient(conn) // reads the greeting again; its EHLO goes over TLS
	defer c.Close()
	if err := c.Hello("relay.example.net"); err != nil {
		panic(err)
	}
	msg := "Subject: hello\r\n\r\nDelivered over DANE.\r\n"
	if err := c.SendMail("alice@example.net", []string{"bob@secure.example"}, strings.NewReader(msg)); err != nil {
		panic(err)
	}
	if err := c.Quit(); err != nil {
		panic(err)
	}
	fmt.Print(<-received)
	// Output:
	// passed over: mx1.secure.example 192.0.2.21 tls certificate-not-trusted
	// connected: mx2.secure.example 192.0.2.22 over TLS 1.3
	// policy: dane: 1 TLSA record(s) at _25._tcp.mx2.secure.example
	// from alice@example.net to [bob@secure.example]:
	// Subject: hello
	//
	// Delivered over DANE.
}
