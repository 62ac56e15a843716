package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxroute-go/mxroute"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

var families = map[string]mxroute.Family{
	"any": mxroute.AnyFamily, "4": mxroute.IPv4Only, "6": mxroute.IPv6Only,
	"prefer4": mxroute.PreferIPv4, "interleave": mxroute.Interleave,
}

// routeConfig is what the route command's flags say.
type routeConfig struct {
	router  *mxroute.Router
	timeout time.Duration
	domains []string
}

// parseRouteFlags reads the flags of "mxroute route". It returns an exit
// status other than exitOK when the command must stop.
func parseRouteFlags(args []string, stderr io.Writer) (*routeConfig, int) {
	fs := flag.NewFlagSet("mxroute route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var zones, servers, localNames, localAddrs listFlag
	fs.Var(&zones, "zone", "answer from this master `file` (repeatable; offline); the origin is the file name without .zone")
	fs.Var(&servers, "server", "ask this DNS server, `host:port` (repeatable); default: /etc/resolv.conf")
	fs.Var(&localNames, "local-name", "this host's `name`, for the loop guard (repeatable)")
	fs.Var(&localAddrs, "local-addr", "this host's `address`, for the loop guard (repeatable)")
	family := fs.String("family", "any", "address families: any, 4, 6, prefer4 or interleave")
	maxHosts := fs.Int("max-hosts", 0, "at most this many mail hosts (0: no limit)")
	maxAddrs := fs.Int("max-addrs", 0, "at most this many addresses (0: no limit)")
	seed := fs.Int64("seed", -1, "shuffle equal preferences with this seed, for a reproducible order (-1: random)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up routing a domain after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mxroute route [flags] DOMAIN...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	usageErr := func(format string, a ...any) (*routeConfig, int) {
		fmt.Fprintf(stderr, "mxroute route: "+format+"\n", a...)
		return nil, exitUsage
	}
	if fs.NArg() == 0 {
		return usageErr("no domain given")
	}
	fam, ok := families[*family]
	if !ok {
		return usageErr("--family %q: want any, 4, 6, prefer4 or interleave", *family)
	}
	if *maxHosts < 0 || *maxAddrs < 0 {
		return usageErr("--max-hosts and --max-addrs must not be negative")
	}
	if *timeout <= 0 {
		return usageErr("--timeout must be positive")
	}
	r := &mxroute.Router{LocalNames: localNames, Family: fam, MaxHosts: *maxHosts, MaxAddrs: *maxAddrs}
	for _, s := range localAddrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usageErr("--local-addr %q: not an IP address", s)
		}
		r.LocalAddrs = append(r.LocalAddrs, a)
	}
	if *seed >= 0 {
		r.Rand = rand.New(rand.NewPCG(uint64(*seed), 0))
	}
	switch {
	case len(zones) > 0 && len(servers) > 0:
		return usageErr("--zone and --server cannot be used together")
	case len(zones) > 0:
		z, err := loadZones(zones)
		if err != nil {
			fmt.Fprintf(stderr, "mxroute route: %v\n", err)
			return nil, exitNoInput
		}
		r.Resolver = z
	case len(servers) > 0:
		r.Resolver = &mxroute.DNSResolver{Servers: servers}
	}
	return &routeConfig{router: r, timeout: *timeout, domains: fs.Args()}, exitOK
}

// loadZones reads master files into one ZoneResolver. A file's origin is its
// name without a .zone or .db suffix ("vega.ru.zone" is vega.ru); $ORIGIN
// and SOA records in the file take precedence for the names they cover.
func loadZones(files []string) (*mxroute.ZoneResolver, error) {
	var z *mxroute.ZoneResolver
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		origin := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(file), ".zone"), ".db")
		if z == nil {
			z, err = mxroute.NewZoneResolver(f, origin)
		} else {
			err = z.Add(f, origin)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	return z, nil
}

func runRoute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, status := parseRouteFlags(args, stderr)
	if cfg == nil {
		return status
	}
	status = exitOK
	for i, domain := range cfg.domains {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		dctx, cancel := context.WithTimeout(ctx, cfg.timeout)
		rt, err := cfg.router.Route(dctx, domain)
		cancel()
		printRoute(stdout, domain, rt, err)
		switch {
		case err == nil:
		case mxroute.IsTemporary(err):
			status = exitTempFail
		case status != exitTempFail:
			status = exitUnavailable
		}
	}
	return status
}

// printRoute writes one domain's route as an aligned table, with the
// verdict when routing failed.
func printRoute(w io.Writer, domain string, rt *mxroute.Route, err error) {
	if rt != nil {
		head := rt.Domain
		if rt.Canonical != rt.Domain {
			head += " (canonical name " + rt.Canonical + ")"
		}
		if rt.Implicit {
			head += ": no MX records, implicit MX"
		}
		fmt.Fprintln(w, head)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PREF\tHOST\tADDRESS\tFAMILY")
		for _, h := range rt.Hosts {
			if h.Err != nil {
				fmt.Fprintf(tw, "%d\t%s\t-\tunusable: %s\n", h.Preference, h.Name, hostReason(h.Err))
				continue
			}
			for _, a := range h.Addrs {
				fam := "IPv4"
				if a.Is6() && !a.Is4In6() {
					fam = "IPv6"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", h.Preference, h.Name, a, fam)
			}
		}
		tw.Flush()
	}
	if err != nil {
		var e *mxroute.Error
		verdict, code := "bounce", ""
		if mxroute.IsTemporary(err) {
			verdict = "defer"
		}
		if errors.As(err, &e) {
			code = " " + e.Status
		}
		fmt.Fprintf(w, "%s: %s%s: %v\n", domain, verdict, code, err)
	}
}

// hostReason is a host error's detail with its verdict, short enough for a
// table row.
func hostReason(err error) string {
	var e *mxroute.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	verdict := "permanent"
	if e.Temporary {
		verdict = "temporary"
	}
	return fmt.Sprintf("%s (%s %s)", e.Detail, verdict, e.Status)
}
