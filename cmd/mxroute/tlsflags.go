package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/mtasts"
)

// tlsFlags are the shared flags about TLS and the command's own
// connections: the policies a route applies (--mta-sts, --dane), what may
// be connected to (--allow-loopback), where connections really go
// (--connect-to), which roots a certificate may chain to (--ca-file), and
// the SMTP port (--port, which probe dials). sharedFlags embeds them.
type tlsFlags struct {
	// The flags as given.
	mtaSTS        bool
	dane          bool
	allowLoopback bool
	port          int
	connectTo     listFlag
	caFiles       listFlag

	// What setup makes of them.
	rules  connectRules
	roots  *x509.CertPool // nil: the system's roots
	dial   *dialer
	sts    *mtasts.Client // the run's: one Store and one fetch per policy domain
	store  *mtasts.MemoryStore
	stsTXT sync.Map // "_mta-sts.<domain>" → []string: the TXT records the run's lookups saw
}

func (f *tlsFlags) define(fs *flag.FlagSet) {
	fs.BoolVar(&f.mtaSTS, "mta-sts", false, "apply the domains' MTA-STS policies (RFC 8461), fetched over HTTPS:\neach host shows its TLS mode")
	fs.BoolVar(&f.dane, "dane", false, "apply the mail hosts' TLSA records (DANE, RFC 7672): each host shows\nits TLS mode; asks with DNSSEC, as --dnssec, and needs a trusted\nvalidating resolver (not with --zone)")
	fs.BoolVar(&f.allowLoopback, "allow-loopback", false, "let loopback addresses (127.0.0.0/8, ::1) be targets and policy hosts\n(a lab on this machine)")
	fs.IntVar(&f.port, "port", 25, "the SMTP `port` of the mail hosts, for the commands that connect to them")
	fs.Var(&f.connectTo, "connect-to", "connections to the first of `HOST:PORT=HOST:PORT` go to the second\n(repeatable; an empty host or port matches any): the MTA-STS policy\nfetch (mta-sts.DOMAIN:443), a lab's servers")
	fs.Var(&f.caFiles, "ca-file", "also trust the CA certificates in this PEM `file` (repeatable): the\nMTA-STS policy host's and the mail hosts' certificates")
}

// check validates the flags and reads the --ca-file files. zoneFiles
// says whether the answers come from zone files, which DANE cannot use.
func (f *tlsFlags) check(zoneFiles bool) error {
	switch {
	case f.dane && zoneFiles:
		// As --dnssec: a zone file says nothing of signatures, so DANE
		// could never apply; one clear line beats a note per domain.
		return &usageError{"--dane needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status"}
	case f.port < 1 || f.port > 65535:
		return &usageError{fmt.Sprintf("--port %d: want a number in 1..65535", f.port)}
	}
	for _, s := range f.connectTo {
		r, err := parseConnectTo(s)
		if err != nil {
			return err
		}
		f.rules = append(f.rules, r)
	}
	if len(f.caFiles) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, file := range f.caFiles {
			pem, err := os.ReadFile(file)
			if err != nil {
				return &inputError{err}
			}
			if !pool.AppendCertsFromPEM(pem) {
				return &inputError{fmt.Errorf("%s: no PEM certificate in it", file)}
			}
		}
		f.roots = pool
	}
	return nil
}

// maxFetchTimeout is the longest a policy fetch may take: mtasts.Fetcher's
// default.
const maxFetchTimeout = 30 * time.Second

// setup makes the run's MTA-STS client, which asks its TXT questions
// through res and fetches each policy through the run's dialer. A fetch
// gets at most half of timeout (the domain's), so that a policy host that
// stalls is reported as a failed fetch while the route still has time,
// never a route cut short.
func (f *tlsFlags) setup(res mxroute.Resolver, timeout time.Duration) {
	f.dial = &dialer{rules: f.rules, resolver: res, allowLoopback: f.allowLoopback}
	transport := &http.Transport{
		DialContext:            f.dial.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: f.roots, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:      true, // one fetch per policy host
		MaxResponseHeaderBytes: 64 << 10,
		// No proxy: a lab's --zone and --connect-to say where the policy
		// host is, and an environment's proxy would not know them.
	}
	f.store = &mtasts.MemoryStore{}
	f.sts = &mtasts.Client{
		TXT:     f.lookupTXT(res),
		Fetcher: mtasts.Fetcher{Client: &http.Client{Transport: transport}, Timeout: min(timeout/2, maxFetchTimeout)},
		Store:   f.store,
	}
}

// apply sets the Router's TLS fields as the flags say.
func (f *tlsFlags) apply(r *mxroute.Router) {
	r.AllowLoopback, r.DANE, r.RootCAs = f.allowLoopback, f.dane, f.roots
	if f.mtaSTS {
		r.MTASTS = f.sts
	}
}

// tlsOn reports whether a route applies a TLS policy, so each host has
// its TLS mode.
func (f *tlsFlags) tlsOn() bool { return f.mtaSTS || f.dane }

// maxTXTRecords bounds the TXT records of one _mta-sts name that are kept.
const maxTXTRecords = 16

// lookupTXT is the run's mtasts.TXTFunc: the TXT records of name through
// res, each record's strings unescaped (miekg/dns keeps them in
// presentation form) and joined without spaces (RFC 8461, Section 3.1).
// NXDOMAIN and NODATA are no records; any other rcode is a failure. What it
// finds is kept for explain, which shows the record.
func (f *tlsFlags) lookupTXT(res mxroute.Resolver) mtasts.TXTFunc {
	return func(ctx context.Context, name string) ([]string, error) {
		fqdn := dns.Fqdn(strings.ToLower(name))
		rrs, _, err := answersAt(ctx, res, fqdn, dns.TypeTXT)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, rr := range rrs {
			if t, ok := rr.(*dns.TXT); ok && len(out) < maxTXTRecords {
				var b strings.Builder
				for _, s := range t.Txt {
					b.WriteString(unescapeTXT(s))
				}
				out = append(out, b.String())
			}
		}
		f.stsTXT.Store(strings.TrimSuffix(fqdn, "."), out)
		return out, nil
	}
}

// txtSeen returns the TXT records the run's lookups saw at name (no
// trailing dot), and whether they looked.
func (f *tlsFlags) txtSeen(name string) ([]string, bool) {
	v, ok := f.stsTXT.Load(name)
	if !ok {
		return nil, false
	}
	return v.([]string), true
}

// policyOf returns the MTA-STS policy the run's client holds for domain.
func (f *tlsFlags) policyOf(ctx context.Context, domain string) *mtasts.Policy {
	if f.store == nil {
		return nil
	}
	e, ok, _ := f.store.Get(ctx, domain)
	if !ok {
		return nil
	}
	return e.Policy
}

// unescapeTXT turns a character-string from miekg/dns's presentation form
// (\DDD for a byte, \X for X) back into its bytes.
func unescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}
