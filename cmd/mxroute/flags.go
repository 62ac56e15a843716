package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// sharedFlags are the flags of every command that routes domains, defined
// once: where the answers come from (--zone, --server, --dnssec,
// --trust-ad, --no-cache), which domains (the arguments and --from), how
// long each may take (--timeout), how many at once (--workers), how the
// run is shown (--json, --progress), and TLS and the command's own
// connections (tlsFlags). A command embeds it, calls define on its FlagSet
// and check from its own check.
type sharedFlags struct {
	// The flags as given.
	zones    listFlag
	servers  listFlag // host:port once checked
	from     string
	timeout  time.Duration
	workers  int
	progress string // auto, on, off
	json     bool
	dnssec   bool // ask for and show the DNSSEC status (DNSResolver.DNSSEC)
	trustAD  bool // believe the AD bit from every server (DNSResolver.TrustAD)
	noCache  bool // no Cache shared by the domains of the run
	tlsFlags      // --mta-sts, --dane, --allow-loopback, --port, --connect-to, --ca-file (tlsflags.go)

	// What check makes of them.
	domains   []string
	fromFile  bool               // some domains came from --from
	zoneFiles bool               // answers come from master files (--zone)
	resolver  mxroute.Resolver   // the run's, behind its Cache unless --no-cache
	resolvers []mxroute.Resolver // uncached: one per --server (lint compares them), or the zones, or resolv.conf's
}

// define defines the shared flags on a command's FlagSet.
func (f *sharedFlags) define(fs *flag.FlagSet) {
	fs.Var(&f.zones, "zone", "answer from this master `file`, offline (repeatable); its origin is the file name without .zone")
	fs.Var(&f.servers, "server", "ask this DNS server, `host:port` (repeatable); default: the servers of /etc/resolv.conf")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on a domain after this `duration`")
	fs.StringVar(&f.from, "from", "", "read domains from this `file`, one a line (- for stdin; # starts a comment)")
	fs.IntVar(&f.workers, "workers", 8, "route at most this many domains at once")
	fs.StringVar(&f.progress, "progress", "auto", "progress on stderr: auto (with --from, when stderr is a terminal), on or off")
	fs.BoolVar(&f.json, "json", false, "write JSON Lines, one object per domain (schema in README)")
	fs.BoolVar(&f.dnssec, "dnssec", false, "show whether a validating resolver authenticated the answers (its AD\nbit, believed from loopback servers, with --trust-ad or resolv.conf's\ntrust-ad); not with --zone: zone files carry no DNSSEC status")
	fs.BoolVar(&f.trustAD, "trust-ad", false, "with --dnssec or --dane: believe the AD bit from every server, not only\nfrom loopback ones (only over a secure channel to a validating resolver)")
	fs.BoolVar(&f.noCache, "no-cache", false, "no answer cache shared by the domains of the run: ask for every\ndomain afresh")
	f.tlsFlags.define(fs)
}

// check validates the shared flags, takes the domains (args, then the
// --from file's) and sets up where their answers come from: the zone
// files, the --server list or resolv.conf's servers, behind one Cache for
// the run. A zone file's notes go to stderr.
func (f *sharedFlags) check(args []string, e *env) error {
	switch {
	case f.timeout <= 0:
		return &usageError{"--timeout must be positive"}
	case f.workers < 1:
		return &usageError{"--workers must be at least 1"}
	case f.progress != "auto" && f.progress != "on" && f.progress != "off":
		return &usageError{fmt.Sprintf("--progress %q: want auto, on or off", f.progress)}
	case len(f.zones) > 0 && len(f.servers) > 0:
		return &usageError{"--zone and --server cannot be used together"}
	case f.dnssec && len(f.zones) > 0:
		// A zone file says nothing of signatures or validation: every
		// answer would read "not authenticated", which is not the truth.
		return &usageError{"--dnssec needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status"}
	case f.trustAD && !f.dnssec && !f.dane:
		return &usageError{"--trust-ad needs --dnssec or --dane"}
	}
	if err := f.tlsFlags.check(len(f.zones) > 0); err != nil {
		return err
	}
	for i, srv := range f.servers {
		addr, err := serverAddr(srv)
		if err != nil {
			return err
		}
		f.servers[i] = addr
	}
	f.domains = args
	if f.from != "" {
		f.fromFile = true
		list, err := readDomains(f.from, e.stdin)
		if err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			return &inputError{err}
		}
		f.domains = append(f.domains, list...)
	}
	if len(f.domains) == 0 {
		return &usageError{"no domain given"}
	}
	switch {
	case len(f.zones) > 0:
		z, notes, err := loadZones(f.zones)
		if err != nil {
			return &inputError{err}
		}
		for _, n := range notes {
			fmt.Fprintf(e.stderr, "mxroute %s: %s\n", e.cmd.name, esc(n))
		}
		f.zoneFiles = true
		f.resolver, f.resolvers = z, []mxroute.Resolver{z}
	case len(f.servers) > 0:
		f.resolver = &mxroute.DNSResolver{Servers: f.servers, DNSSEC: f.askAD(), TrustAD: f.trustAD}
		for _, s := range f.servers {
			f.resolvers = append(f.resolvers, &mxroute.DNSResolver{Servers: []string{s}})
		}
	default:
		f.resolver = &mxroute.DNSResolver{DNSSEC: f.askAD(), TrustAD: f.trustAD}
		f.resolvers = []mxroute.Resolver{f.resolver}
	}
	if !f.noCache {
		// Domains of a batch share mail hosts (a provider's MX serves
		// thousands): one Cache for the run asks for each host once, and
		// identical questions in flight at once are asked once. The
		// router reads cached answers as they came, TTLs unaged, so the
		// output is the same with or without it; MaxTTL is as long as a
		// TTL can be, so that no TTL lint reports is capped to the
		// Cache's default hour. lint's --server comparison asks each
		// server itself, uncached.
		f.resolver = &mxroute.Cache{Resolver: f.resolver, MaxTTL: math.MaxUint32 * time.Second}
	}
	f.tlsFlags.setup(f.resolver, f.timeout)
	return nil
}

// askAD reports whether the run's resolver asks for the DNSSEC status (DO
// and AD): for --dnssec, which shows it, and for --dane, which needs it.
func (f *sharedFlags) askAD() bool { return f.dnssec || f.dane }

// newRouter returns a Router for one domain as the shared flags say: it
// asks the run's resolver, with the TLS policies and loopback as the flags
// say. A command sets its own options on it.
func (f *sharedFlags) newRouter() *mxroute.Router {
	r := &mxroute.Router{Resolver: f.resolver}
	f.tlsFlags.apply(r)
	return r
}

// newProgress returns the run's progress on stderr, or nil for none.
func (f *sharedFlags) newProgress(e *env) *progress {
	return newProgress(f.progress, f.fromFile, len(f.domains), e.stdout, e.stderr)
}

// serverAddr checks a --server value and returns it as host:port: a bare
// host or IP address gets port 53 ("192.0.2.53", "2001:db8::53",
// "[2001:db8::53]"); the host must not be empty, the port a number in
// 1..65535. Caught here, a typo is a usage error, not a deferral of every
// domain of the run.
func serverAddr(s string) (string, error) {
	bad := func(why string) error { return &usageError{fmt.Sprintf("--server %q: %s", s, why)} }
	if strings.ContainsAny(s, " \t") || s == "" {
		return "", bad("want host:port or a host (port 53)")
	}
	if a, err := netip.ParseAddr(s); err == nil { // a bare IPv6 address has colons but no port
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return "", bad("not an IPv6 address in brackets")
		}
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	host, port := s, "53"
	if strings.HasPrefix(s, "[") || strings.Contains(s, ":") {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			return "", bad(strings.TrimPrefix(err.Error(), "address "+s+": "))
		}
		if strings.HasPrefix(s, "[") {
			if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
				return "", bad("not an IPv6 address in brackets")
			}
		}
	}
	if host == "" {
		return "", bad("empty host")
	}
	if _, err := netip.ParseAddr(host); err != nil {
		if _, ok := dns.IsDomainName(host); !ok {
			return "", bad("not an IP address or host name")
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", bad(fmt.Sprintf("port %q: want a number in 1..65535", port))
	}
	return net.JoinHostPort(host, port), nil
}

// answersAt asks name's records of qtype through res (the run's resolver)
// and returns those of the end of its CNAME chain in the answer; found is
// false for NXDOMAIN and NODATA. Any other rcode is an error.
func answersAt(ctx context.Context, res mxroute.Resolver, name string, qtype uint16) ([]dns.RR, bool, error) {
	msg, err := res.Resolve(ctx, strings.ToLower(name), qtype)
	switch {
	case err != nil:
		return nil, false, err
	case msg.Rcode == dns.RcodeNameError:
		return nil, false, nil
	case msg.Rcode != dns.RcodeSuccess:
		return nil, false, fmt.Errorf("%s lookup for %s: %s", dns.TypeToString[qtype], name, dns.RcodeToString[msg.Rcode])
	}
	owner := strings.ToLower(name)
	for range 16 {
		next := ""
		for _, rr := range msg.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" {
			break
		}
		owner = next
	}
	var out []dns.RR
	for _, rr := range msg.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, owner) {
			out = append(out, rr)
		}
	}
	return out, len(out) > 0, nil
}
