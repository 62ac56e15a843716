package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/mtasts"
)

// tlsPolicies prints, for each measured domain, the route with TLS policies
// on against the plain route: (d) Router.MTASTS with the domain's policy
// cached (fetched once before the runs; its TXT question goes out with the
// MX question), (e) Router.DANE (a TLSA question per host, in the round of
// its addresses), (f) both, (g) the first target of Targets with both. Each
// must stay at two round-trips.
func tlsPolicies(ctx context.Context, cfg config, srv *server, w io.Writer) error {
	hs := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		domain := strings.TrimPrefix(r.Host, "mta-sts.")
		rw.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(rw, "version: STSv1\nmode: enforce\nmx: *.%s\nmax_age: 86400\n", domain)
	}))
	defer hs.Close()
	tr := hs.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.ServerName = "example.com" // the name in httptest's certificate
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, hs.Listener.Addr().String())
	}
	defer tr.CloseIdleConnections()
	client := &mtasts.Client{Fetcher: mtasts.Fetcher{Client: &http.Client{Transport: tr}}}

	res := func(dnssec bool) mxroute.Resolver {
		return &mxroute.DNSResolver{Servers: []string{srv.addr}, Timeout: 10*cfg.RTT + time.Second, Attempts: 1, DNSSEC: dnssec}
	}
	plain := &mxroute.Router{Resolver: res(false)}
	sts := &mxroute.Router{Resolver: res(false), MTASTS: client}
	dn := &mxroute.Router{Resolver: res(true), DANE: true}
	both := &mxroute.Router{Resolver: res(true), DANE: true, MTASTS: client}

	fmt.Fprintf(w, "\nTLS policies, same server and RTT; median of %d runs, alternating (a), (d), (e), (f), (g)\n", cfg.Runs)
	fmt.Fprintf(w, "(a) Route  (d) Route, MTA-STS policy cached  (e) Route, DANE (TLSA per host)  (f) Route, both  (g) first target of Targets, both\n\n")
	fmt.Fprintf(w, "%-6s %-20s %-20s %-20s %-20s %s\n", "hosts", "(a) Route", "(d) MTA-STS", "(e) DANE", "(f) both", "(g) first, both")
	for _, n := range cfg.Hosts {
		domain := "h" + strconv.Itoa(n) + ".bench"
		check := func(rt *mxroute.Route, err error, want mxroute.TLSMode) error {
			if err != nil {
				return err
			}
			if len(rt.Hosts) != n {
				return fmt.Errorf("route has %d hosts, want %d", len(rt.Hosts), n)
			}
			for _, h := range rt.Hosts {
				if h.TLS.Mode != want {
					return fmt.Errorf("%s: TLS %v, want %v", h.Name, h.TLS, want)
				}
			}
			return nil
		}
		// The policy is fetched once, then cached.
		if rt, err := sts.Route(ctx, domain); check(rt, err, mxroute.TLSMTASTS) != nil {
			err = check(rt, err, mxroute.TLSMTASTS)
			return fmt.Errorf("%s, warm-up: %w", domain, err)
		}
		methods := []func() error{
			func() error { _, err := plain.Route(ctx, domain); return err },
			func() error { rt, err := sts.Route(ctx, domain); return check(rt, err, mxroute.TLSMTASTS) },
			func() error { rt, err := dn.Route(ctx, domain); return check(rt, err, mxroute.TLSDANE) },
			func() error { rt, err := both.Route(ctx, domain); return check(rt, err, mxroute.TLSDANE) },
			func() error {
				for t, err := range both.Targets(ctx, domain) {
					if err == nil && t.TLS.Mode != mxroute.TLSDANE {
						err = fmt.Errorf("first target: TLS %v", t.TLS)
					}
					return err
				}
				return errors.New("no target")
			},
		}
		times := make([][]time.Duration, len(methods))
		for range cfg.Runs {
			for i, m := range methods {
				start := time.Now()
				if err := m(); err != nil {
					return fmt.Errorf("%s, method %c: %w", domain, "adefg"[i], err)
				}
				times[i] = append(times[i], time.Since(start))
			}
		}
		cells := make([]any, 0, len(times)+1)
		cells = append(cells, n)
		for _, ts := range times {
			slices.Sort(ts)
			m := ts[len(ts)/2]
			cells = append(cells, fmt.Sprintf("%.1f ms (%.2f RTT)", ms(m), float64(m)/float64(cfg.RTT)))
		}
		fmt.Fprintf(w, "%-6d %-20s %-20s %-20s %-20s %s\n", cells...)
	}
	return nil
}
