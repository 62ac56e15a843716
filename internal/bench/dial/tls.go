package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/mxroute-go/mxroute/internal/dnstest"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/testpki"
)

// The TLS part: "time to a verified TLS session" under DANE, every DNS
// answer, connect and SMTP or TLS reply one RTT away.
//
// The zone is signed as far as the Router knows: its DNS server answers
// from a ZoneResolver after RTT with AD set, and a DNSResolver with DNSSEC
// believes it from loopback. Every host publishes a DANE-EE record for the
// good key; mx1.danefail's server presents another key.
const tlsZone = `
$ORIGIN tls.bench.
@              3600 IN SOA ns hostmaster 1 3600 600 86400 300
@              IN NS ns
ns             IN A 192.0.2.53
healthy        IN MX 10 mx1.healthy
               IN MX 20 mx2.healthy
mx1.healthy    IN A 192.0.2.101
mx2.healthy    IN A 192.0.2.102
danefail       IN MX 10 mx1.danefail
               IN MX 20 mx2.danefail
mx1.danefail   IN A 192.0.2.111
mx2.danefail   IN A 192.0.2.112
`

// tlsScenario is one domain of the TLS part, with its floor in RTTs.
type tlsScenario struct {
	domain string
	about  string
	floor  int // RTTs
	winner string
}

var tlsScenarios = []tlsScenario{
	// The route (MX, then A, AAAA and TLSA at once), the connect, the
	// greeting, EHLO, STARTTLS, a TLS 1.3 handshake.
	{"healthy.tls.bench", "MX 10 healthy", 2 + 5, "mx1.healthy.tls.bench"},
	// The same to MX 10, whose key fails, then MX 20 from the connect on.
	{"danefail.tls.bench", "MX 10 fails DANE, MX 20 passes", 2 + 5 + 5, "mx2.danefail.tls.bench"},
}

// tlsBench is the TLS part's servers and hook.
type tlsBench struct {
	cfg   config
	dns   *dns.Server
	dnsTC *dns.Server
	addr  string // of the DNS server
	good  *smtpServer
	bad   *smtpServer
}

func startTLS(cfg config) (*tlsBench, error) {
	good, err := testpki.Make(nil, testpki.Template{CommonName: "mx.tls.bench"})
	if err != nil {
		return nil, err
	}
	bad, err := testpki.Make(nil, testpki.Template{CommonName: "mx.tls.bench"})
	if err != nil {
		return nil, err
	}
	rec, err := dane.NewRecord(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, good.Cert)
	if err != nil {
		return nil, err
	}
	zone := tlsZone
	for _, h := range []string{"mx1.healthy", "mx2.healthy", "mx1.danefail", "mx2.danefail"} {
		zone += "_25._tcp." + h + " IN TLSA " + rec.String() + "\n"
	}
	z, err := mxroute.NewZoneResolver(strings.NewReader(zone), "tls.bench.")
	if err != nil {
		return nil, err
	}
	b := &tlsBench{cfg: cfg}
	if err := b.startDNS(z); err != nil {
		return nil, err
	}
	if b.good, err = startSMTP(cfg.RTT, good.TLS()); err != nil {
		b.stop()
		return nil, err
	}
	if b.bad, err = startSMTP(cfg.RTT, bad.TLS()); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// startDNS serves z on loopback, UDP and TCP, every answer after RTT, AD
// set as a validating resolver sets it for a signed zone.
func (b *tlsBench) startDNS(z *mxroute.ZoneResolver) error {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		time.Sleep(b.cfg.RTT)
		m := new(dns.Msg)
		if len(req.Question) != 1 {
			m.SetRcode(req, dns.RcodeFormatError)
			_ = w.WriteMsg(m)
			return
		}
		q := req.Question[0]
		ans, err := z.Resolve(context.Background(), q.Name, q.Qtype)
		if err != nil {
			m.SetRcode(req, dns.RcodeServerFailure)
			_ = w.WriteMsg(m)
			return
		}
		m = ans.Copy()
		m.Id, m.Response, m.RecursionAvailable, m.AuthenticatedData = req.Id, true, true, true
		_ = w.WriteMsg(m)
	})
	pc, ln, err := dnstest.Listen()
	if err != nil {
		return err
	}
	b.addr = pc.LocalAddr().String()
	b.dns, b.dnsTC = &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{b.dns, b.dnsTC} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	return nil
}

func (b *tlsBench) stop() {
	for _, srv := range []*dns.Server{b.dns, b.dnsTC} {
		if srv != nil {
			_ = srv.Shutdown()
		}
	}
	for _, s := range []*smtpServer{b.good, b.bad} {
		if s != nil {
			s.close()
		}
	}
}

func (b *tlsBench) router() *mxroute.Router {
	return &mxroute.Router{Resolver: &mxroute.DNSResolver{Servers: []string{b.addr}, Timeout: 10*b.cfg.RTT + time.Second,
		Attempts: 1, DNSSEC: true}, DANE: true}
}

// dial maps the zone's addresses to the two servers, one RTT for the
// connect; refused names addresses a caller excludes (no network: the
// caller's own decision).
func (b *tlsBench) dial(refused map[string]bool) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if refused[address] {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		real := b.good.addr
		if address == "192.0.2.111:25" {
			real = b.bad.addr
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "tcp", real)
		if err != nil {
			return nil, err
		}
		t := time.NewTimer(b.cfg.RTT)
		defer t.Stop()
		select {
		case <-t.C:
			return c, nil
		case <-ctx.Done():
			_ = c.Close()
			return nil, ctx.Err()
		}
	}
}

// The ways to a verified TLS session.
const (
	wayDialer = iota // (f) Dialer.StartTLS
	wayCaller        // (g) the caller does it
	wayFloor         // (h) the least the protocol needs, by hand
)

// measureTLS gets one verified TLS session to s.domain in way, and returns
// the time it took.
func (b *tlsBench) measureTLS(ctx context.Context, s tlsScenario, way int) (time.Duration, error) {
	router := b.router() // no cache: each run routes afresh
	start := time.Now()
	var (
		conn net.Conn
		host string
		err  error
	)
	switch way {
	case wayCaller:
		conn, host, err = b.callerDoesIt(ctx, router, s.domain)
	case wayFloor:
		conn, host, err = b.floor(ctx, s.domain)
	default:
		d := &mxroute.Dialer{Router: router, DialContext: b.dial(nil), StartTLS: true, Hello: "client.bench"}
		var c *mxroute.Conn
		if c, err = d.Dial(ctx, s.domain); err == nil {
			if c.TLSState == nil {
				err = errors.New("no TLS")
			}
			conn, host = c, c.Target.Host
		}
	}
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	_, _ = io.WriteString(conn, "QUIT\r\n")
	_ = conn.Close()
	if host != s.winner {
		return 0, fmt.Errorf("session with %s, want %s", host, s.winner)
	}
	return took, nil
}

// floor is the shortest way the harness allows: the MX question, then the
// A and TLSA questions of every host at once (one DNSSEC-OK exchange each,
// no retries, no checks), then each host in turn: connect, greeting, EHLO,
// STARTTLS and the handshake with its DANE policy. It measures what the
// simulation itself costs (timers, TLS crypto) above the RTTs.
func (b *tlsBench) floor(ctx context.Context, domain string) (net.Conn, string, error) {
	ask := func(name string, qtype uint16) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		m.SetEdns0(1232, true)
		r, _, err := new(dns.Client).ExchangeContext(ctx, m, b.addr)
		return r, err
	}
	r, err := ask(domain, dns.TypeMX)
	if err != nil {
		return nil, "", err
	}
	var hosts []*dns.MX
	for _, rr := range r.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			hosts = append(hosts, mx)
		}
	}
	slices.SortFunc(hosts, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
	type found struct {
		addr string
		pol  *dane.Policy
	}
	got := make([]found, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			if r, err := ask(h.Mx, dns.TypeA); err == nil && len(r.Answer) > 0 {
				got[i].addr = r.Answer[0].(*dns.A).A.String()
			}
		})
		wg.Go(func() {
			if r, err := ask("_25._tcp."+h.Mx, dns.TypeTLSA); err == nil {
				got[i].pol = dane.NewPolicy(strings.TrimSuffix(h.Mx, "."), "", r.Answer)
			}
		})
	}
	wg.Wait()
	dial := b.dial(nil)
	for i, h := range hosts {
		if got[i].addr == "" || got[i].pol == nil {
			continue
		}
		c, err := dial(ctx, "tcp4", net.JoinHostPort(got[i].addr, "25"))
		if err != nil {
			continue
		}
		if tc, err := startTLSByHand(c, got[i].pol.TLSConfig()); err == nil {
			return tc, strings.TrimSuffix(h.Mx, "."), nil
		}
		_ = c.Close()
	}
	return nil, "", errors.New("no host")
}

// callerDoesIt is what an MTA writes around a Dialer without StartTLS (the
// trial of issue 17, and mx-connect's ignoreMXHosts): Dial, then EHLO,
// STARTTLS and the handshake with Conn.TLS.TLSConfig() by hand; when TLS
// fails under a required policy, Dial again with that address refused,
// which routes the domain again.
func (b *tlsBench) callerDoesIt(ctx context.Context, router *mxroute.Router, domain string) (net.Conn, string, error) {
	refused := map[string]bool{}
	for range 5 {
		d := &mxroute.Dialer{Router: router, DialContext: b.dial(refused)}
		c, err := d.Dial(ctx, domain)
		if err != nil {
			return nil, "", err
		}
		tc, err := startTLSByHand(c, c.TLS.TLSConfig())
		if err == nil {
			return tc, c.Target.Host, nil
		}
		_ = c.Close()
		if !c.TLS.Required() {
			return nil, "", err
		}
		refused[net.JoinHostPort(c.Target.Addr.String(), "25")] = true
	}
	return nil, "", errors.New("no session in 5 dials")
}

// startTLSByHand reads the greeting, sends EHLO and STARTTLS and runs the
// handshake, as a caller does with net/textproto (net/smtp's StartTLS
// would send one more EHLO after the handshake, which is not counted).
func startTLSByHand(c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, err
	}
	if err := tp.PrintfLine("EHLO client.bench"); err != nil {
		return nil, err
	}
	if _, msg, err := tp.ReadResponse(250); err != nil {
		return nil, err
	} else if !strings.Contains(msg, "STARTTLS") {
		return nil, errors.New("STARTTLS not offered")
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, err
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, err
	}
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return tc, nil
}

// runTLS measures the TLS part, alternating the two ways, and prints it.
func runTLS(ctx context.Context, cfg config, w io.Writer) error {
	b, err := startTLS(cfg)
	if err != nil {
		return err
	}
	defer b.stop()
	ways := []int{wayDialer, wayCaller, wayFloor}
	results := make([][3][]time.Duration, len(tlsScenarios))
	for range cfg.Runs {
		for si, s := range tlsScenarios {
			for _, way := range ways {
				d, err := b.measureTLS(ctx, s, way)
				if err != nil {
					return fmt.Errorf("%s, way %c: %w", s.domain, "fgh"[way], err)
				}
				results[si][way] = append(results[si][way], d)
			}
		}
	}
	rtt := cfg.RTT
	fmt.Fprintf(w, "\ntime to a verified TLS session (DANE-EE); simulated RTT %v on every DNS answer, connect and SMTP/TLS reply; median of %d runs, alternating (f), (g), (h)\n",
		rtt, cfg.Runs)
	fmt.Fprintf(w, "(f) Dialer.StartTLS  (g) the caller does it: Dial, EHLO/STARTTLS/handshake by hand, on a TLS failure Dial again without that address (DNS asked again)\n")
	fmt.Fprintf(w, "(h) the floor by hand: raw MX, then A and TLSA questions at once, connect, greeting, EHLO, STARTTLS, TLS 1.3 handshake\n")
	fmt.Fprintf(w, "RTTs: route 2 + connect + greeting + EHLO + STARTTLS + handshake = 7; a failover adds connect to handshake, 5 more\n\n")
	fmt.Fprintf(w, "%-32s %-12s %-12s %-12s %-18s %-8s %-8s %s\n", "scenario", "(f)", "(g)", "(h) floor", "RTTs", "(f)/(h)", "(f)/RTTs", "(g)/(f)")
	med := make([][3]time.Duration, len(tlsScenarios))
	for si, s := range tlsScenarios {
		for _, way := range ways {
			med[si][way] = median(results[si][way])
		}
		rtts := time.Duration(s.floor) * rtt
		fmt.Fprintf(w, "%-32s %-12s %-12s %-12s %-18s %-8s %-8s %s\n", s.about, show(med[si][wayDialer]), show(med[si][wayCaller]),
			show(med[si][wayFloor]), fmt.Sprintf("%s (%d RTT)", show(rtts), s.floor), ratio2(med[si][wayDialer], med[si][wayFloor]),
			ratio2(med[si][wayDialer], rtts), ratio2(med[si][wayCaller], med[si][wayDialer]))
	}
	h, f := med[0][wayDialer], med[0][wayFloor]
	fmt.Fprintf(w, "target: healthy within 5%% of the floor: %s (%s of (h)); DANE failover at least 1.5x sooner than the caller: %s (%s)\n",
		yes(h <= f+f/20), ratio2(h, f), yes(float64(med[1][wayCaller]) >= 1.5*float64(med[1][wayDialer])),
		ratio2(med[1][wayCaller], med[1][wayDialer]))
	return nil
}

// smtpServer is an ESMTP server with STARTTLS whose every reply, TLS
// flights included, leaves one RTT after what it answers arrived; the
// greeting leaves 2 RTT after the accept (the hook hands the connection
// to the client one RTT after it).
type smtpServer struct {
	addr string
	ln   net.Listener
	cert tls.Certificate
	rtt  time.Duration
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func startSMTP(rtt time.Duration, cert tls.Certificate) (*smtpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &smtpServer{addr: ln.Addr().String(), ln: ln, cert: cert, rtt: rtt, conns: map[net.Conn]bool{}}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Go(func() {
				s.serve(&delayConn{Conn: c, rtt: rtt, last: time.Now().Add(rtt)})
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			})
		}
	})
	return s, nil
}

func (s *smtpServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// serve speaks just enough SMTP: EHLO, STARTTLS, then EHLO and QUIT over TLS.
func (s *smtpServer) serve(c net.Conn) {
	overTLS := false
	br := bufio.NewReader(c)
	w := io.Writer(c)
	if _, err := io.WriteString(w, "220 mx.tls.bench ESMTP\r\n"); err != nil {
		return
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(strings.SplitN(line, " ", 2)[0]))
		switch {
		case verb == "EHLO" && !overTLS:
			_, err = io.WriteString(w, "250-mx.tls.bench\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
		case verb == "EHLO":
			_, err = io.WriteString(w, "250-mx.tls.bench\r\n250 PIPELINING\r\n")
		case verb == "STARTTLS" && !overTLS:
			if _, err = io.WriteString(w, "220 2.0.0 go ahead\r\n"); err != nil {
				return
			}
			tc := tls.Server(readerConn{c, br}, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if tc.Handshake() != nil {
				return
			}
			overTLS, br, w = true, bufio.NewReader(tc), tc
			continue
		case verb == "QUIT":
			_, _ = io.WriteString(w, "221 2.0.0 bye\r\n")
			return
		default:
			_, err = io.WriteString(w, "250 2.0.0 ok\r\n")
		}
		if err != nil {
			return
		}
	}
}

// delayConn writes nothing sooner than one RTT after its last read: what
// it sends answers what came, a round trip away.
type delayConn struct {
	net.Conn
	rtt  time.Duration
	mu   sync.Mutex
	last time.Time
}

func (c *delayConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.last = time.Now()
		c.mu.Unlock()
	}
	return n, err
}

func (c *delayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	due := c.last.Add(c.rtt)
	c.mu.Unlock()
	time.Sleep(time.Until(due))
	return c.Conn.Write(p)
}

// readerConn reads through a reader that may hold bytes already received.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// ratio2 is a/b with two decimals.
func ratio2(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}
