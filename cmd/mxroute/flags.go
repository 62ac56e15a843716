package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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

var families = map[string]mxroute.Family{
	"any": mxroute.AnyFamily, "4": mxroute.IPv4Only, "6": mxroute.IPv6Only,
	"prefer4": mxroute.PreferIPv4, "interleave": mxroute.Interleave,
}

// config is what the flags of a command say.
type config struct {
	resolver  mxroute.Resolver   // nil: the library's default (/etc/resolv.conf)
	resolvers []mxroute.Resolver // one per --server (lint compares them); or the zones
	servers   []string
	local     []string
	localAddr []netip.Addr
	family    mxroute.Family
	maxHosts  int
	maxAddrs  int
	seed      int64 // -1: random
	timeout   time.Duration
	json      bool
	workers   int
	progress  string // auto, on, off
	domains   []string
	fromFile  bool
	dnssec    bool     // ask for and show the DNSSEC status (DNSResolver.DNSSEC)
	trustAD   bool     // believe the AD bit from every server (DNSResolver.TrustAD)
	noCache   bool     // no Cache shared by the domains of the run
	zoneFiles bool     // --zone: answers come from master files
	notes     []string // lines for stderr once the flags are read (zone files)

	// lint
	authPort       int      // the port of the zone's authoritative servers (53)
	authServers    []string // --auth-server: asked instead of the zone's NS
	minTTL, maxTTL time.Duration
}

// newRouter returns a Router for one domain: a fresh seeded Rand per domain
// makes each domain's order the same whether it is routed alone or among
// others, concurrently.
func (c *config) newRouter() *mxroute.Router {
	r := &mxroute.Router{Resolver: c.resolver, LocalNames: c.local, LocalAddrs: c.localAddr,
		Family: c.family, MaxHosts: c.maxHosts, MaxAddrs: c.maxAddrs}
	if c.seed >= 0 {
		r.Rand = rand.New(rand.NewPCG(uint64(c.seed), 0))
	}
	return r
}

// usageError is a bad argument: exit 64, one line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// inputError is an unreadable zone or domain file: exit 66, one line.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }

// parseFlags reads a command's flags and arguments. It returns the config,
// or the exit status to stop with (exitOK after -h).
func parseFlags(name string, args []string, e *env, routing bool) (*config, int) {
	fs := flag.NewFlagSet("mxroute "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors get one line, below; -h the usage, on stdout
	c := &config{}
	var zones, servers, localNames, localAddrs listFlag
	var family, from string
	fs.Var(&zones, "zone", "answer from this master `file`, offline (repeatable); its origin is the file name without .zone")
	fs.Var(&servers, "server", "ask this DNS server, `host:port` (repeatable); default: the servers of /etc/resolv.conf")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up on a domain after this `duration`")
	fs.StringVar(&from, "from", "", "read domains from this `file`, one a line (- for stdin; # starts a comment)")
	fs.IntVar(&c.workers, "workers", 8, "route at most this many domains at once")
	fs.StringVar(&c.progress, "progress", "auto", "progress on stderr: auto (with --from, when stderr is a terminal), on or off")
	fs.BoolVar(&c.json, "json", false, "write JSON Lines, one object per domain (schema in README)")
	fs.BoolVar(&c.dnssec, "dnssec", false, "show whether a validating resolver authenticated the answers (its AD\nbit, believed from loopback servers, with --trust-ad or resolv.conf's\ntrust-ad); not with --zone: zone files carry no DNSSEC status")
	fs.BoolVar(&c.trustAD, "trust-ad", false, "with --dnssec: believe the AD bit from every server, not only from\nloopback ones (only over a secure channel to a validating resolver)")
	fs.BoolVar(&c.noCache, "no-cache", false, "no answer cache shared by the domains of the run: ask for every\ndomain afresh")
	if routing {
		fs.Var(&localNames, "local-name", "this host's `name`, for the loop guard: route as this relay would (repeatable)")
		fs.Var(&localAddrs, "local-addr", "this host's `address`, for the loop guard (repeatable)")
		fs.StringVar(&family, "family", "any", "address families: any (IPv6 first), 4, 6, prefer4 or interleave")
		fs.IntVar(&c.maxHosts, "max-hosts", 0, "look up at most this many mail hosts (0: no limit)")
		fs.IntVar(&c.maxAddrs, "max-addrs", 0, "try at most this many addresses (0: no limit)")
		fs.Int64Var(&c.seed, "seed", -1, "shuffle equal preferences with this seed, for a reproducible order (-1: random)")
	} else {
		fs.DurationVar(&c.minTTL, "min-ttl", 5*time.Minute, "warn when the MX RRset's TTL is below this")
		fs.DurationVar(&c.maxTTL, "max-ttl", 7*24*time.Hour, "warn when the MX RRset's TTL is above this")
	}
	var authServers listFlag
	if !routing {
		fs.Var(&authServers, "auth-server", "ask this authoritative server, `host:port`, for the published MX TTL\ninstead of the zone's name servers (a hidden primary; repeatable)")
		fs.IntVar(&c.authPort, "auth-port", 53, "the port of the zone's authoritative servers, asked for the MX TTL\n(another port only for test servers)")
	}
	fs.Usage = func() {}
	flagArgs, positional := splitArgs(fs, args)
	if err := fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			printUsage(fs, name)
			return nil, exitOK
		}
		fmt.Fprintf(e.stderr, "mxroute %s: %s (see mxroute %s -h)\n", name, esc(err.Error()), name)
		return nil, exitUsage
	}
	c.local = localNames
	err := c.finish(positional, e, zones, servers, authServers, localAddrs, family, from, routing)
	var ue *usageError
	var ie *inputError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "mxroute %s: %s\n", name, esc(err.Error()))
		return nil, exitUsage
	case errors.As(err, &ie):
		fmt.Fprintf(e.stderr, "mxroute %s: %s\n", name, esc(err.Error()))
		return nil, exitNoInput
	}
	for _, n := range c.notes {
		fmt.Fprintf(e.stderr, "mxroute %s: %s\n", name, esc(n))
	}
	return c, exitOK
}

// splitArgs separates flags (with their values) from positional arguments,
// so that flags may follow the domains, as operators type them
// ("mxroute route example.com --json"). "--" ends the flags: everything
// after it is a domain, even one that starts with "-". A flag that takes a
// value takes the next argument unless given as --flag=value; whatever the
// flag package rejects ("---x", an unknown flag) is left to it.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a) // "-" alone is an argument too
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // the flag package reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
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

func (c *config) finish(positional []string, e *env, zones, servers, authServers, localAddrs []string, family, from string, routing bool) error {
	if routing {
		var ok bool
		if c.family, ok = families[family]; !ok {
			return &usageError{fmt.Sprintf("--family %q: want any, 4, 6, prefer4 or interleave", family)}
		}
		if c.maxHosts < 0 || c.maxAddrs < 0 {
			return &usageError{"--max-hosts and --max-addrs must not be negative"}
		}
		if c.seed < -1 {
			// -1 is the documented "random"; anything below it would be
			// silently random too, which a user asking for a
			// reproducible order would not notice.
			return &usageError{fmt.Sprintf("--seed %d: want -1 (random) or a seed of 0 or more", c.seed)}
		}
		for _, s := range localAddrs {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return &usageError{fmt.Sprintf("--local-addr %q: not an IP address", s)}
			}
			c.localAddr = append(c.localAddr, a)
		}
	} else if c.minTTL < 0 || c.maxTTL < c.minTTL {
		return &usageError{"--min-ttl must not be negative nor above --max-ttl"}
	}
	switch {
	case c.timeout <= 0:
		return &usageError{"--timeout must be positive"}
	case c.workers < 1:
		return &usageError{"--workers must be at least 1"}
	case c.progress != "auto" && c.progress != "on" && c.progress != "off":
		return &usageError{fmt.Sprintf("--progress %q: want auto, on or off", c.progress)}
	case len(zones) > 0 && len(servers) > 0:
		return &usageError{"--zone and --server cannot be used together"}
	case c.dnssec && len(zones) > 0:
		// A zone file says nothing of signatures or validation: every
		// answer would read "not authenticated", which is not the truth.
		return &usageError{"--dnssec needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status"}
	case c.trustAD && !c.dnssec:
		return &usageError{"--trust-ad needs --dnssec"}
	}
	if !routing && (c.authPort < 1 || c.authPort > 65535) {
		return &usageError{fmt.Sprintf("--auth-port %d: want a number in 1..65535", c.authPort)}
	}
	for i, srv := range servers {
		addr, err := serverAddr(srv)
		if err != nil {
			return err
		}
		servers[i] = addr
	}
	for _, srv := range authServers {
		addr, err := serverAddr(srv)
		if err != nil {
			return &usageError{"--auth-" + strings.TrimPrefix(err.Error(), "--")}
		}
		c.authServers = append(c.authServers, addr)
	}
	c.domains = positional
	if from != "" {
		c.fromFile = true
		list, err := readDomains(from, e.stdin)
		if err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			return &inputError{err}
		}
		c.domains = append(c.domains, list...)
	}
	if len(c.domains) == 0 {
		return &usageError{"no domain given"}
	}
	switch {
	case len(zones) > 0:
		z, notes, err := loadZones(zones)
		if err != nil {
			return &inputError{err}
		}
		c.notes = append(c.notes, notes...)
		c.zoneFiles = true
		c.resolver, c.resolvers = z, []mxroute.Resolver{z}
	case len(servers) > 0:
		c.servers = servers
		c.resolver = &mxroute.DNSResolver{Servers: servers, DNSSEC: c.dnssec, TrustAD: c.trustAD}
		for _, s := range servers {
			c.resolvers = append(c.resolvers, &mxroute.DNSResolver{Servers: []string{s}})
		}
	default:
		c.resolver = &mxroute.DNSResolver{DNSSEC: c.dnssec, TrustAD: c.trustAD}
		c.resolvers = []mxroute.Resolver{c.resolver}
	}
	if !c.noCache {
		// Domains of a batch share mail hosts (a provider's MX serves
		// thousands): one Cache for the run asks for each host once, and
		// identical questions in flight at once are asked once. The
		// router reads cached answers as they came, TTLs unaged, so the
		// output is the same with or without it; MaxTTL is as long as a
		// TTL can be, so that no TTL lint reports is capped to the
		// Cache's default hour. lint's --server comparison asks each
		// server itself, uncached.
		c.resolver = &mxroute.Cache{Resolver: c.resolver, MaxTTL: math.MaxUint32 * time.Second}
	}
	return nil
}

func printUsage(fs *flag.FlagSet, name string) {
	w := fs.Output()
	switch name {
	case "route":
		fmt.Fprint(w, `usage: mxroute route [flags] DOMAIN...

Print the delivery plan of each domain: one row per address in the order to
try (preference, host, address, family), hosts dropped or unusable with the
reason, and for a failure the verdict (defer or bounce) and its status code.

Exit status: 0 every domain routed, 75 some domain deferred (EX_TEMPFAIL),
69 some domain bounced and none deferred (EX_UNAVAILABLE), 64 usage error,
66 unreadable zone or --from file.

Flags:
`)
	case "explain":
		fmt.Fprint(w, `usage: mxroute explain [flags] DOMAIN...

Route each domain and print every decision in the order it was made, with the
rule that caused it, then the route. Exit status as for route.

Flags:
`)
	case "lint":
		fmt.Fprint(w, `usage: mxroute lint [flags] DOMAIN...

Check each domain's MX setup. With several --server, compare what they answer.
The TTL checks judge the MX TTL the zone publishes: from a zone file, from an
authoritative answer, or asked of the zone's name servers (RD=0); a cache's
count-down is never judged.

Checks (severity, check, what):
`+lintHelp()+`
Exit status: 0 nothing found (or info only), 1 warnings only, 2 some error,
64 usage error, 66 unreadable zone or --from file.

Flags:
`)
	}
	fs.PrintDefaults()
}
