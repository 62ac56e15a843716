package mxroute_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// signedZone plays a DNSSEC-signed zone: the ResolverFunc below marks its
// answers authenticated, as a trusted validating resolver's AD bit would
// (a real sender uses a DNSResolver with DNSSEC set).
const signedZone = `
$ORIGIN signed.example.
@        3600 IN SOA ns hostmaster 1 3600 600 86400 300
@        IN NS ns
ns       IN A  192.0.2.53
@        IN MX 10 mx1
         IN MX 20 mx2
mx1      IN A  192.0.2.61
_25._tcp.mx1 IN TLSA 3 1 1 8f2c6a0b1e9d3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012345
mx2      IN A  192.0.2.62
`

// DANE per host: mx1 publishes a TLSA record, so STARTTLS to it must be
// authenticated by that record (its tls.Config does it); mx2 has none, an
// authenticated denial, so it is opportunistic.
func ExampleRouter_dane() {
	z, err := mxroute.NewZoneResolver(strings.NewReader(signedZone), "signed.example.")
	if err != nil {
		panic(err)
	}
	ad := mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m, err := z.Resolve(ctx, name, qtype)
		if m != nil {
			m.AuthenticatedData = true // the "validating resolver" vouches for it
		}
		return m, err
	})
	r := &mxroute.Router{Resolver: ad, DANE: true}
	rt, err := r.Route(context.Background(), "signed.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range rt.Hosts {
		fmt.Printf("%s: %s (TLS required: %v, SNI %s)\n", h.Name, h.TLS, h.TLS.Required(), h.TLS.TLSConfig().ServerName)
	}
	// Output:
	// mx1.signed.example: dane: 1 TLSA record(s) at _25._tcp.mx1.signed.example (TLS required: true, SNI mx1.signed.example)
	// mx2.signed.example: opportunistic (TLS required: false, SNI mx2.signed.example)
}
