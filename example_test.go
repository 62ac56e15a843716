package mxroute_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// exampleZone is a small zone for the examples; real code uses a
// DNSResolver (the default) instead of a ZoneResolver.
const exampleZone = `
$ORIGIN example.
@        3600 IN SOA ns hostmaster 1 3600 600 86400 300
@        IN NS ns
ns       IN A  192.0.2.53
; a domain with three mail exchangers, two of them at preference 10
shop     IN MX 10 mx1.shop
         IN MX 10 mx2.shop
         IN MX 20 backup
mx1.shop IN A    192.0.2.11
         IN AAAA 2001:db8::11
mx2.shop IN A    192.0.2.12
backup   IN A    192.0.2.20
; a domain without MX: its own address is the implicit MX
blog     IN A    192.0.2.30
; a domain that takes no mail (RFC 7505)
noreply  IN MX 0 .
         IN A    192.0.2.40
`

func exampleResolver() *mxroute.ZoneResolver {
	z, err := mxroute.NewZoneResolver(strings.NewReader(exampleZone), "example.")
	if err != nil {
		panic(err)
	}
	return z
}

// A plain route: hosts by preference (the two at 10 in a random order,
// reproducible here through a seeded Rand), every address of each.
func ExampleRouter_Route() {
	r := &mxroute.Router{
		Resolver: exampleResolver(),
		Rand:     rand.New(rand.NewPCG(1, 2)),
	}
	rt, err := r.Route(context.Background(), "Shop.Example.")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range rt.Targets() {
		fmt.Println(t.Preference, t.Host, t.Addr)
	}
	// Output:
	// 10 mx2.shop.example 192.0.2.12
	// 10 mx1.shop.example 2001:db8::11
	// 10 mx1.shop.example 192.0.2.11
	// 20 backup.example 192.0.2.20
}

// A domain without MX records is its own mail host, at preference 0.
func ExampleRouter_Route_implicitMX() {
	r := &mxroute.Router{Resolver: exampleResolver()}
	rt, err := r.Route(context.Background(), "blog.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("implicit:", rt.Implicit)
	for _, h := range rt.Hosts {
		fmt.Println(h.Preference, h.Name, h.Addrs)
	}
	// Output:
	// implicit: true
	// 0 blog.example [192.0.2.30]
}

// A null MX bounces at once: no fallback to the domain's A record.
func ExampleRouter_Route_nullMX() {
	r := &mxroute.Router{Resolver: exampleResolver()}
	_, err := r.Route(context.Background(), "noreply.example")
	var e *mxroute.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, mxroute.ErrNullMX), e.Status, e.Temporary)
	}
	fmt.Println(err)
	// Output:
	// true 5.1.10 false
	// mxroute: "noreply.example": domain accepts no mail (null MX) (5.1.10)
}

// The loop guard: relaying as backup.example, this host drops itself and
// every worse MX; as the best MX it would loop, so the mail bounces.
func ExampleRouter_Route_loopGuard() {
	backup := &mxroute.Router{
		Resolver:   exampleResolver(),
		LocalNames: []string{"backup.example"},
		Rand:       rand.New(rand.NewPCG(1, 2)),
	}
	rt, _ := backup.Route(context.Background(), "shop.example")
	for _, h := range rt.Hosts {
		fmt.Println(h.Preference, h.Name)
	}

	primary := &mxroute.Router{
		Resolver:   exampleResolver(),
		LocalAddrs: []netip.Addr{netip.MustParseAddr("2001:db8::11")},
	}
	_, err := primary.Route(context.Background(), "shop.example")
	fmt.Println(errors.Is(err, mxroute.ErrLoop), mxroute.IsTemporary(err))
	// Output:
	// 10 mx2.shop.example
	// 10 mx1.shop.example
	// true false
}

// Any function can be a Resolver: here one that fails every question
// temporarily, as an unreachable DNS server would. The route is deferred,
// never bounced.
func ExampleResolverFunc() {
	down := mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Rcode = dns.RcodeServerFailure
		return m, nil
	})
	_, err := (&mxroute.Router{Resolver: down}).Route(context.Background(), "example.org")
	fmt.Println(mxroute.IsTemporary(err))
	fmt.Println(err)
	// Output:
	// true
	// mxroute: "example.org": temporary DNS failure: MX lookup for example.org: SERVFAIL (4.4.3)
}

// IsTemporary is the defer-or-bounce decision; Status goes into the DSN.
func ExampleIsTemporary() {
	r := &mxroute.Router{Resolver: exampleResolver()}
	for _, domain := range []string{"nowhere.example", "other.invalid"} {
		_, err := r.Route(context.Background(), domain)
		var e *mxroute.Error
		errors.As(err, &e)
		verdict := "bounce"
		if mxroute.IsTemporary(err) {
			verdict = "defer"
		}
		fmt.Println(domain, verdict, e.Status)
	}
	// Output:
	// nowhere.example bounce 5.1.2
	// other.invalid defer 4.4.3
}

// Targets streams the same targets as Route, in the same order, each as
// soon as it is known: connect to the first while the rest resolve, and
// stop when one takes the mail (stopping cancels the lookups left).
func ExampleRouter_Targets() {
	r := &mxroute.Router{
		Resolver: exampleResolver(),
		Rand:     rand.New(rand.NewPCG(1, 2)),
	}
	for t, err := range r.Targets(context.Background(), "shop.example") {
		if err != nil {
			fmt.Println("defer or bounce:", err)
			return
		}
		fmt.Println("trying", t.Host, t.Addr)
		if t.Addr.Is6() {
			fmt.Println("delivered")
			break
		}
	}
	// Output:
	// trying mx2.shop.example 192.0.2.12
	// trying mx1.shop.example 2001:db8::11
	// delivered
}

// A Cache in front of the resolver makes a second route of the same
// domain cost no DNS question until the answers' TTLs run out.
func ExampleCache() {
	questions := 0
	zone := exampleResolver()
	cache := &mxroute.Cache{Resolver: mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		questions++ // one at a time here; a real Resolver must be safe for concurrent use
		return zone.Resolve(ctx, name, qtype)
	})}
	r := &mxroute.Router{Resolver: cache, Family: mxroute.IPv4Only, MaxLookups: 1}
	for range 3 {
		if _, err := r.Route(context.Background(), "shop.example"); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("questions asked:", questions)
	// Output:
	// questions asked: 4
}

// Every decision of Route, logged through log/slog. The handler here drops
// the time so that the output is reproducible; an MTA would pass its own
// logger, at debug level.
func ExampleSlogTrace() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	r := &mxroute.Router{
		Resolver: exampleResolver(),
		Rand:     rand.New(rand.NewPCG(1, 2)),
		Family:   mxroute.IPv4Only,
		Trace:    mxroute.SlogTrace(slog.New(h), slog.LevelDebug),
	}
	_, _ = r.Route(context.Background(), "shop.example")
	// Output:
	// level=DEBUG msg="MX RRset of shop.example has 3 record(s), TTL 3600" step=mx domain=shop.example rule="RFC 5321, Section 5.1" ttl=3600 count=3
	// level=DEBUG msg="mx1.shop.example and mx2.shop.example share preference 10: shuffled into mx2.shop.example, mx1.shop.example" step=shuffle domain=shop.example preference=10 rule="RFC 5321, Section 5.1" count=2
	// level=DEBUG msg="mx2.shop.example (10) has 1 IPv4 address, TTL 3600" step=addrs domain=shop.example host=mx2.shop.example preference=10 rule="RFC 5321, Section 5.1" ttl=3600 count=1 addrs=192.0.2.12
	// level=DEBUG msg="mx1.shop.example (10) has 1 IPv4 address, TTL 3600" step=addrs domain=shop.example host=mx1.shop.example preference=10 rule="RFC 5321, Section 5.1" ttl=3600 count=1 addrs=192.0.2.11
	// level=DEBUG msg="backup.example (20) has 1 IPv4 address, TTL 3600" step=addrs domain=shop.example host=backup.example preference=20 rule="RFC 5321, Section 5.1" ttl=3600 count=1 addrs=192.0.2.20
	// level=DEBUG msg="routed: 3 host(s), 3 address(es) to try" step=done domain=shop.example count=3
}

// NormalizeHost gives a name in the form of Route.Domain and Host.Name: to
// compare names with a route's, or to say which name a failed route asked
// DNS about.
func ExampleNormalizeHost() {
	fmt.Println(mxroute.NormalizeHost("MX1.Example.COM."))
	fmt.Println(mxroute.NormalizeHost("Bücher.example"))
	fmt.Println(mxroute.NormalizeHost("bücher。example。"))
	// Output:
	// mx1.example.com
	// xn--bcher-kva.example
	// xn--bcher-kva.example
}
