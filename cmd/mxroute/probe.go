package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

var cmdProbe = &command{
	name:  "probe",
	args:  "[flags] DOMAIN...",
	short: "connect to every address of each domain's mail hosts as a sender does: greeting, EHLO, STARTTLS and the certificate under the host's TLS policy, reverse DNS; findings as lint's, exit 0 clean, 1 warnings, 2 errors",
	long: `Route each domain with its TLS policies (MTA-STS always, DANE too but not
with --zone), then connect to every address of every usable host, as the
library's Dialer does for an MTA: the connect, the greeting, EHLO, STARTTLS
and the certificate under the host's policy, EHLO again over TLS, QUIT. With
--rcpt also MAIL FROM:<>, RCPT TO: an address that should not exist, and
RSET; never DATA. Each address's reverse DNS is looked up and confirmed
forward. Addresses are probed several at once (--connections over the run),
each step bounded by --probe-timeout and each domain by --timeout. Each
address is shown, then the findings in lint's format and a count.

Checks (severity, check, what):
` + checksHelp(probeChecks) + `
Exit status: 0 nothing found (or info only), 1 warnings only, 2 some error,
64 usage error, 66 unreadable zone, --from or --ca-file file.
`,
	flags: probeFlags,
}

// probeRun is one run of probe: the shared flags and probe's own.
type probeRun struct {
	sharedFlags
	probeTimeout time.Duration
	connections  int
	rcpt         string // --rcpt as given: an address, or a local part
	certDays     int
	helloFlag    string // --hello as given

	// What check and run make of them.
	slots chan struct{} // a slot per connection at once, over the run
	hello string        // the EHLO name: this host's, when fully qualified; "": each connection's address literal
	now   time.Time     // when the run began: certificates are judged at it
}

func probeFlags(fs *flag.FlagSet) runner {
	p := &probeRun{}
	p.sharedFlags.define(fs)
	fs.DurationVar(&p.probeTimeout, "probe-timeout", 10*time.Second, "wait at most this `duration` for each step at an address: the connect,\nthe greeting, each reply, the TLS handshake")
	fs.IntVar(&p.connections, "connections", 16, "at most this many connections at once, over the whole run")
	fs.StringVar(&p.rcpt, "rcpt", "", "also ask RCPT TO: for this `address` of the domain (or a local part, at\neach domain), one that does not exist: a host that takes it takes mail\nfor unknown recipients (MAIL FROM:<>, RCPT TO:, RSET; never DATA)")
	fs.IntVar(&p.certDays, "cert-days", 14, "warn when a certificate expires within this many `days`")
	fs.StringVar(&p.helloFlag, "hello", "", "the EHLO `name`: a fully qualified domain name or an address literal\n(default: this host's name when fully qualified, else the address\nliteral of each connection)")
	return p
}

// check validates probe's flags, turns the TLS policies on, then checks the
// shared flags and --rcpt against the domains.
func (p *probeRun) check(args []string, e *env) error {
	switch {
	case p.probeTimeout <= 0:
		return &usageError{"--probe-timeout must be positive"}
	case p.connections < 1:
		return &usageError{"--connections must be at least 1"}
	case p.certDays < 0:
		return &usageError{"--cert-days must not be negative"}
	}
	if err := checkRcpt(p.rcpt); err != nil {
		return err
	}
	if p.helloFlag != "" && !isHelloName(p.helloFlag) {
		return &usageError{fmt.Sprintf("--hello %q: want a fully qualified domain name or an address literal ([192.0.2.1], [IPv6:2001:db8::1])", p.helloFlag)}
	}
	// A prober meets what a sender meets: the TLS policies apply always
	// (the flags are accepted, and change nothing); DANE wherever DNS can
	// say what is signed, which zone files cannot.
	p.mtaSTS = true
	p.dane = len(p.zones) == 0
	if err := p.sharedFlags.check(args, e); err != nil {
		return err
	}
	if local, domain, ok := strings.Cut(p.rcpt, "@"); ok {
		for _, q := range p.domains {
			d, _ := domainOf(q)
			if !strings.EqualFold(mxroute.NormalizeHost(d), mxroute.NormalizeHost(domain)) {
				return &usageError{fmt.Sprintf("--rcpt %s@%s is no address of %s: probe asks only for recipients of the domain it probes (one elsewhere would test relaying); give a local part to ask at each domain", local, domain, d)}
			}
		}
	}
	p.slots = make(chan struct{}, p.connections)
	p.hello = p.helloFlag
	if p.hello == "" {
		p.hello = helloName()
	}
	return nil
}

// checkRcpt checks --rcpt: an address (local@domain) or a local part, with
// nothing an SMTP command line could not carry as it is.
func checkRcpt(s string) error {
	if s == "" {
		return nil
	}
	bad := func(why string) error { return &usageError{fmt.Sprintf("--rcpt %q: %s", s, why)} }
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return bad("no spaces, control characters or angle brackets")
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	switch {
	case local == "":
		return bad("want an address or a local part")
	case ok && (domain == "" || strings.Contains(domain, "@")):
		return bad("want local@domain")
	case ok:
		if _, ok := dns.IsDomainName(domain); !ok {
			return bad("the domain is no domain name")
		}
	}
	return nil
}

// helloName is the EHLO name probe sends without --hello: this host's
// name when it is fully qualified, as the Dialer's default; "" lets each
// connection send its local address literal (RFC 5321, Section 4.1.1.1).
func helloName() string {
	h, err := os.Hostname()
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if err != nil || !isHelloName(h) {
		return ""
	}
	return h
}

// isHelloName reports whether s may follow EHLO (RFC 5321, Section
// 4.1.1.1): a fully qualified domain name (two labels at least, the last not
// all digits) or an address literal.
func isHelloName(s string) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		lit := s[1 : len(s)-1]
		if v6, ok := strings.CutPrefix(lit, "IPv6:"); ok {
			a, err := netip.ParseAddr(v6)
			return err == nil && a.Is6() && a.Zone() == ""
		}
		a, err := netip.ParseAddr(lit)
		return err == nil && a.Is4()
	}
	s = strings.TrimSuffix(s, ".")
	return strings.Contains(s, ".") && isHostName(s) && !strings.Contains(s, "_") &&
		strings.Trim(s[strings.LastIndexByte(s, '.')+1:], "0123456789") != ""
}

// newRouter returns the Router a domain is probed with: the shared flags'
// (the TLS policies on), with a fixed seed, so that hosts of equal
// preference come in the same order at every run.
func (p *probeRun) newRouter() *mxroute.Router {
	r := p.sharedFlags.newRouter()
	r.Rand = rand.New(rand.NewPCG(0, 0))
	return r
}

// run probes every domain, writes each in input order with its findings,
// then a count, and exits as lint does.
func (p *probeRun) run(ctx context.Context, e *env) int {
	p.now = time.Now()
	prog := p.newProgress(e)
	var t tally
	forEach(ctx, p.domains, p.workers, p.probeOne, func(i int, query string, res probeResult) {
		t.add(res.findings)
		prog.clear()
		if p.json {
			writeJSON(e.stdout, jsonProbeOf(query, res))
		} else {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			printProbe(e.stdout, query, res)
		}
		prog.step(i + 1)
	})
	if !p.json {
		prog.clear()
		fmt.Fprintln(e.stdout, t.String())
	}
	return t.status()
}

// probeResult is one domain probed: its route, each address of it, the
// findings.
type probeResult struct {
	routed
	run      *probeRun
	rcpt     string       // the address asked with --rcpt at this domain; ""
	addrs    []*addrProbe // every target of the route, in route order
	findings []finding
}

// probeOne routes a domain with its TLS policies and probes each target
// of the route, at most --connections at once over the run, all within
// --timeout; then runs probeChecks on what it found.
func (p *probeRun) probeOne(ctx context.Context, query string) probeResult {
	domain, _ := domainOf(query)
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	res := probeResult{run: p, routed: routeTraced(ctx, p.newRouter(), domain)}
	if res.rt != nil {
		res.rcpt = p.rcptAt(res.rt.Domain)
		targets := res.rt.Targets()
		res.addrs = make([]*addrProbe, len(targets))
		var wg sync.WaitGroup
		for i, t := range targets {
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
				res.addrs[i] = &addrProbe{target: t, port: p.port, notDialled: "not probed: the domain's --timeout ended first"}
				continue
			}
			wg.Go(func() {
				defer func() { <-p.slots }()
				res.addrs[i] = p.probeAddr(ctx, res.rt.Domain, t, res.rcpt)
			})
		}
		wg.Wait()
	}
	res.findings = runProbeChecks(&res)
	return res
}

// rcptAt is the --rcpt address to ask at domain: as given, or the local
// part at domain.
func (p *probeRun) rcptAt(domain string) string {
	if p.rcpt == "" || strings.Contains(p.rcpt, "@") {
		return p.rcpt
	}
	return p.rcpt + "@" + domain
}
