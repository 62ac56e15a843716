package mxroute_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/testpki"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

// Count each attempt's TLS session for RFC 8460 reports: the Dialer's
// TLSReports counts them under the policy each host applied. Here mx1
// presents a key its TLSA record does not name and is passed over, mx2
// takes the message; each host is a TLSA base domain, so each has a
// report of its own, the day after. Two go-smtp servers on loopback play
// the hosts; the zone is read as a validating resolver would vouch for it.
func ExampleDialer_tlsReports() {
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
			m.AuthenticatedData = true
		}
		return m, err
	})
	addrs := map[string]string{}
	for addr, cert := range map[string]*testpki.Cert{"192.0.2.21:25": wrong, "192.0.2.22:25": right} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		srv := smtp.NewServer(exampleBackend{make(chan string, 1)})
		srv.Domain = "mx.secure.example"
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
		go func() { _ = srv.Serve(ln) }()
		defer func() { _ = srv.Shutdown(context.Background()) }()
		addrs[addr] = ln.Addr().String()
	}

	reports := &tlsrpt.Collector{} // in memory; a tlsrpt.SQLStore to share among MTAs
	d := &mxroute.Dialer{
		Router:     &mxroute.Router{Resolver: signed, DANE: true},
		StartTLS:   true,
		Hello:      "relay.example.net",
		TLSReports: reports,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", addrs[address])
		},
	}
	conn, err := d.Dial(context.Background(), "secure.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = conn.Close() // an MTA delivers over it (ExampleDialer_startTLS)

	sub := tlsrpt.Submitter{Domain: "relay.example.net"}
	for _, domain := range []string{"mx1.secure.example", "mx2.secure.example"} {
		r, err := reports.Report(context.Background(), sub, domain, tlsrpt.DayOf(time.Now()))
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, p := range r.Policies {
			fmt.Printf("%s: %s policy, %d successful, %d failed", domain, p.Policy.Type,
				p.Summary.TotalSuccessful, p.Summary.TotalFailure)
			for _, f := range p.FailureDetails {
				fmt.Printf(": %s from %s to %s", string(f.ResultType), f.SendingMTAIP, f.ReceivingIP)
			}
			fmt.Println()
		}
	}
	// Output:
	// mx1.secure.example: tlsa policy, 0 successful, 1 failed: certificate-not-trusted from 127.0.0.1 to 192.0.2.21
	// mx2.secure.example: tlsa policy, 1 successful, 0 failed
}
