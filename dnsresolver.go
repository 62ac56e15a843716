package mxroute

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/semaphore"
)

// Defaults of DNSResolver, as glibc and Go's resolver use them.
const (
	defaultTimeout  = 5 * time.Second
	defaultAttempts = 2
	// ednsBufSize is the EDNS0 UDP payload size agreed on DNS Flag Day
	// 2020: large enough for most MX and address sets, small enough to
	// avoid IP fragmentation.
	ednsBufSize = 1232
	// defaultMaxInFlight is the default of DNSResolver.MaxInFlight.
	defaultMaxInFlight = 256
	// udpReadSize is the read buffer of a UDP exchange: the EDNS0 size
	// advertised, with room for a server that overshoots it a little. A
	// datagram that fills it was cut, and is asked again over TCP.
	udpReadSize = ednsBufSize + 816 // 2048
)

// DNSResolver asks DNS servers directly, with miekg/dns: UDP with EDNS0,
// TCP when the UDP answer is truncated, and retries over Servers. Its zero
// value uses the nameservers and options of /etc/resolv.conf. It is safe for
// concurrent use; set its fields before its first use and do not change them
// after (Servers are parsed, and MaxInFlight read, once); it must not be
// copied after first use.
//
// It believes nothing the wire says without checking: a reply counts only
// when it comes from the server asked (a connected socket), carries the
// question's ID, has QR set and repeats the question (name
// case-insensitively, type and class). Over UDP anything else is discarded
// and the wait goes on until the attempt's timeout, so a forged or stray
// datagram cannot end an exchange; over TCP it fails the attempt. A
// truncated reply is never returned: it is asked again over TCP, and a TCP
// reply that is truncated too fails the attempt.
//
// At most MaxInFlight exchanges run at once; questions beyond wait their
// turn in order of arrival. Between rounds over Servers it backs off for a
// random time (see README, Performance), so that questions that failed
// together are not all asked again at the same instant.
type DNSResolver struct {
	// Servers are "host:port" addresses ("192.0.2.53:53", "[2001:db8::53]:53");
	// a bare host gets port 53. Empty: the nameservers of /etc/resolv.conf,
	// the first three that are addresses, as glibc reads them (127.0.0.1
	// and ::1 when it has none).
	Servers []string
	// Timeout bounds each attempt. 0: resolv.conf's "options timeout" (at
	// most 30s, as glibc), or 5s.
	Timeout time.Duration
	// Attempts is how many rounds over Servers are made. 0: resolv.conf's
	// "options attempts" (at most 5, as glibc), or 2.
	Attempts int
	// Rotate starts each question at the next server in turn, spreading
	// the load over Servers, as resolv.conf's "options rotate" does.
	// false: the first server is always asked first, unless Servers is
	// empty and resolv.conf says "options rotate".
	Rotate bool
	// DNSSEC sets the DO bit (RFC 3225) and the AD bit (RFC 6840, Section
	// 5.7) in every question, so that a validating recursive resolver says
	// in its reply's AD bit whether the answer was authenticated; nothing is
	// validated here. false: neither bit is set, and AuthenticatedData is
	// false in every reply returned.
	DNSSEC bool
	// TrustAD believes the AD bit from every server. false: only from
	// servers on loopback, and from resolv.conf's nameservers when it says
	// "options trust-ad" (as glibc); from any other server it is cleared,
	// since the path to a resolver across the network can be forged.
	TrustAD bool
	// MaxInFlight bounds the exchanges in flight at once through this
	// DNSResolver, from all its callers (a UDP question and its TCP retry
	// are one), and so its sockets and buffers; questions beyond wait in
	// FIFO order, or until their context ends. 0: 256, a burst a stock
	// local resolver's receive buffer absorbs (README, Many routes at once).
	MaxInFlight int

	next      atomic.Uint32 // the next starting server, for Rotate
	slotsOnce sync.Once
	slots     *semaphore.Weighted           // MaxInFlight slots, FIFO
	queued    atomic.Int32                  // questions waiting for a slot
	parsed    atomic.Pointer[parsedServers] // Servers, parsed once
}

// parsedServers are the Servers of a DNSResolver, parsed: the slice they
// came from (compared by identity, so a new Servers slice is parsed again),
// and each one's address.
type parsedServers struct {
	src   []string
	strs  []string
	addrs []serverAddr
}

// serverAddr is one server, parsed once so that a question's fresh socket
// costs no parsing.
type serverAddr struct {
	addr     string       // "host:port", as dialed and shown in errors
	udp      *net.UDPAddr // nil when addr names a host rather than an address
	loopback bool         // on 127.0.0.0/8 or ::1
}

func parseServer(s string) serverAddr {
	s = withPort(s)
	sa := serverAddr{addr: s}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		sa.udp = net.UDPAddrFromAddrPort(ap)
		sa.loopback = ap.Addr().Unmap().IsLoopback()
	}
	return sa
}

func parseServers(ss []string) (strs []string, addrs []serverAddr) {
	strs, addrs = make([]string, len(ss)), make([]serverAddr, len(ss))
	for i, s := range ss {
		addrs[i] = parseServer(s)
		strs[i] = addrs[i].addr
	}
	return strs, addrs
}

// servers returns r.Servers parsed, parsing them on first use (and again
// if the field is given another slice).
func (r *DNSResolver) servers() *parsedServers {
	p := r.parsed.Load()
	if p != nil && len(p.src) == len(r.Servers) && &p.src[0] == &r.Servers[0] {
		return p
	}
	p = &parsedServers{src: r.Servers}
	p.strs, p.addrs = parseServers(r.Servers)
	r.parsed.Store(p)
	return p
}

// acquire takes one of the MaxInFlight slots, waiting in FIFO order; it
// fails only when ctx ends first.
func (r *DNSResolver) acquire(ctx context.Context) error {
	r.slotsOnce.Do(func() {
		n := r.MaxInFlight
		if n <= 0 {
			n = defaultMaxInFlight
		}
		r.slots = semaphore.NewWeighted(int64(n))
	})
	// x/sync's Weighted serves its waiters in FIFO order: TryAcquire wins
	// only when nobody waits.
	if r.slots.TryAcquire(1) {
		return nil
	}
	r.queued.Add(1)
	defer r.queued.Add(-1)
	return r.slots.Acquire(ctx, 1)
}

func (r *DNSResolver) release() { r.slots.Release(1) }

// dnsConfig is what one Resolve call uses: the struct's fields, with
// resolv.conf filling the zero ones.
type dnsConfig struct {
	servers  []string
	addrs    []serverAddr // servers, parsed
	timeout  time.Duration
	attempts int
	rotate   bool
	trustAD  bool // believe the AD bit from every server
}

// Resolve sends the question to each server in turn, up to Attempts rounds.
// NOERROR and NXDOMAIN are final. SERVFAIL, REFUSED, any other rcode, a
// lame reply (see isLame), a reply to another question and no reply make
// it try the next server. When
// every try ended in a response, the last one is returned (the caller reads
// its rcode); when none did, the error wraps the last failure.
func (r *DNSResolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	cfg := r.config()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	// RFC 6891: advertise a larger UDP payload so that a big MX or address
	// set fits in one datagram. RFC 3225, Section 3: the DO bit asks for
	// DNSSEC records; RFC 6840, Section 5.7: "setting the AD bit in a query
	// as a signal indicating that the requester understands and is
	// interested in the value of the AD bit in the response".
	q.SetEdns0(ednsBufSize, r.DNSSEC)
	q.AuthenticatedData = r.DNSSEC

	n := len(cfg.servers)
	start := 0
	if cfg.rotate && n > 1 {
		start = int((r.next.Add(1) - 1) % uint32(n))
	}
	var last *dns.Msg
	var lastErr error
rounds:
	for round := range cfg.attempts {
		if round > 0 {
			// Every server failed this question: wait a random while
			// before asking them again (see backoff). A wait that would
			// outlast ctx's deadline is not begun: the failures at hand
			// say more than "deadline exceeded" would.
			wait := backoff(round, cfg.timeout)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
				break rounds
			}
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, fmt.Errorf("%s %s: %w", bare(name), typeName(qtype), err)
			}
		}
		for i := range n {
			server := cfg.addrs[(start+i)%n]
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", bare(name), typeName(qtype), err)
			}
			resp, err := r.exchange(ctx, q, server, cfg.timeout)
			if err != nil {
				lastErr = err
				continue
			}
			if !r.DNSSEC || !cfg.believesAD(server) {
				resp.AuthenticatedData = false
			}
			if (resp.Rcode == dns.RcodeSuccess && !isLame(resp)) || resp.Rcode == dns.RcodeNameError {
				return resp, nil
			}
			// SERVFAIL, REFUSED, the rest, and a lame reply (NOERROR,
			// no answer, no SOA, neither AA nor RA: libresolv and Go's
			// resolver skip such a server, golang/go#15434): the next.
			last = resp
		}
	}
	if last != nil {
		return last, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no servers")
	}
	return nil, fmt.Errorf("%s %s: %w", bare(name), typeName(qtype), lastErr)
}

// backoff is how long to wait before round (1, 2, ...) over the servers:
// a random time in [d/2, d) ("equal jitter"), d being a quarter of the
// attempt's timeout, doubled each round, at most the timeout. glibc asks
// again at once (and doubles the timeout instead); Unbound backs off
// exponentially with randomness. Without the randomness, the questions of a
// burst that timed out together would all be asked again together, and
// overflow the same receive buffer again. math/rand/v2's top-level
// functions draw from a per-thread source: no lock on this path.
func backoff(round int, timeout time.Duration) time.Duration {
	d := timeout / 4
	for range round - 1 {
		if d >= timeout {
			break
		}
		d *= 2
	}
	d = min(d, timeout)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2)
}

// sleepCtx waits for d or until ctx ends (then its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exchange asks one server once, with a fresh ID: UDP, then TCP if the
// answer was truncated. It holds one of the resolver's MaxInFlight slots
// from start to end, the TCP retry included: a retry that queued again
// behind questions waiting for slots would hold its route up. It sets q.Id:
// q must be the caller's own (Resolve asks one server at a time).
func (r *DNSResolver) exchange(ctx context.Context, q *dns.Msg, server serverAddr, timeout time.Duration) (*dns.Msg, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, err // ctx ended while queued: the caller's error
	}
	defer r.release()
	// The attempt's own deadline has its own cause, so that a slow server
	// does not read as the caller's deadline (context.DeadlineExceeded).
	// It starts once the slot is taken: the wait is not the server's.
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, attemptTimeout(timeout))
	defer cancel()
	q.Id = dns.Id() // crypto-random: RFC 5452, Section 9.2
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	resp, err := exchangeUDP(ctx, q, server, *bp)
	if err == nil && resp.Truncated {
		// RFC 2181, Section 9 (after RFC 1035, Section 4.2.1): a reply
		// with TC set is ignored and the question asked again over TCP.
		// miekg/dns returns the truncated message without doing so.
		resp, err = exchangeTCP(ctx, q, server)
		if err == nil && resp.Truncated {
			err = errors.New("truncated reply over TCP")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server.addr, err)
	}
	return resp, nil
}

// exchangeUDP and exchangeTCP are one exchange over UDP or TCP that ends
// when ctx does: the connection is closed under a read that ctx outlives.
//
// RFC 5452, Section 3 lists when a resolver accepts a reply: its question
// section equals that of a question still waiting for a response, its ID
// matches the question's, and it comes from the address the question went
// to (and arrives on the address and port it left from). The connected
// socket sees to the addresses; replyTo to the rest. Anything else is
// discarded while the wait goes on, as draft-li-dnsop-response-preprocessing
// ("Awaiting Valid Responses", after the TUDOOR attacks) asks.
//
// Each question gets a fresh socket, so a fresh source port (RFC 5452,
// Section 9.2), connected to the address parsed once (serverAddr).
func exchangeUDP(ctx context.Context, q *dns.Msg, server serverAddr, buf []byte) (*dns.Msg, error) {
	var conn net.Conn
	var err error
	if server.udp != nil {
		conn, err = net.DialUDP("udp", nil, server.udp)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "udp", server.addr)
	}
	if err != nil {
		return nil, err
	}
	defer bindConn(ctx, conn)()
	// The question is packed into the read buffer: it is read into only
	// after it has been sent.
	packed, err := q.PackBuffer(buf)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(packed); err != nil {
		return nil, ctxErr(ctx, err)
	}
	// Datagrams: a stray or forged one is dropped and the wait goes on,
	// so it cannot end the exchange early.
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		if n == len(buf) {
			// Larger than the buffer, so larger than the EDNS0 size
			// advertised (RFC 6891, Section 6.2.5 forbids it): cut, it
			// cannot be read. Ask over TCP, as for TC, when it carries
			// the question's ID; otherwise it is stray.
			if binary.BigEndian.Uint16(buf) == q.Id {
				return &dns.Msg{MsgHdr: dns.MsgHdr{Truncated: true}}, nil
			}
			continue
		}
		resp := new(dns.Msg)
		if resp.Unpack(buf[:n]) == nil && replyTo(resp, q) {
			return resp, nil
		}
	}
}

// exchangeTCP reads one message by its two-byte length prefix (RFC 1035,
// Section 4.2.2) into a buffer of that length: a 65,535-byte answer costs
// what it weighs, a small one no more.
func exchangeTCP(ctx context.Context, q *dns.Msg, server serverAddr) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", server.addr)
	if err != nil {
		return nil, err
	}
	defer bindConn(ctx, conn)()
	co := &dns.Conn{Conn: conn}
	if err := co.WriteMsg(q); err != nil {
		return nil, ctxErr(ctx, err)
	}
	// One message on a stream: garbage or a reply to something else
	// means the stream cannot be trusted. miekg/dns reads the length
	// prefix, then exactly that many bytes.
	resp, err := co.ReadMsg()
	switch {
	case err != nil:
		return nil, ctxErr(ctx, err)
	case !replyTo(resp, q):
		return nil, errors.New("reply does not match the question")
	}
	return resp, nil
}

// bindConn ties conn to ctx: its deadline is ctx's, and it is closed when
// ctx ends, so a read that ctx outlives ends. The returned func closes it.
func bindConn(ctx context.Context, conn net.Conn) (closeConn func()) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	return func() {
		stop()
		conn.Close()
	}
}

// udpBufs holds the buffers of UDP exchanges (udpReadSize bytes each): at
// most MaxInFlight of them are in use per DNSResolver.
var udpBufs = sync.Pool{New: func() any { b := make([]byte, udpReadSize); return &b }}

// ctxErr prefers the context's cause to the closed connection's error,
// which says less: the caller's cancellation or deadline, or the attempt's
// timeout.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The socket's deadline is ctx's, and the poller can fire a
		// moment before ctx's own timer: wait for it (the deadline has
		// passed), so that the cause says whose deadline it was.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// attemptTimeout is the error of an attempt that got no reply within
// DNSResolver.Timeout, while the caller's context was still live. It is a
// net.Error that says Timeout, and it is not context.DeadlineExceeded: the
// caller's deadline did not pass.
type attemptTimeout time.Duration

func (e attemptTimeout) Error() string {
	return "no reply within " + time.Duration(e).String()
}
func (attemptTimeout) Timeout() bool   { return true }
func (attemptTimeout) Temporary() bool { return true }

// replyTo reports whether resp is a reply to q: same ID, QR set, opcode
// QUERY, and the same question (name case-insensitively, type and class).
func replyTo(resp, q *dns.Msg) bool {
	return resp.Id == q.Id && resp.Response && resp.Opcode == dns.OpcodeQuery && sameQuestion(resp, q.Question[0])
}

// believesAD reports whether the AD bit of server's replies is believed.
//
// RFC 4035, Section 4.9.3: "a security-aware stub resolver MUST NOT place
// any reliance on signature validation allegedly performed on its behalf,
// except when the security-aware stub resolver obtained the data in question
// from a trusted security-aware recursive name server via a secure channel."
// A server on loopback is on this host; any other is trusted only when
// configured so (TrustAD, or resolv.conf's trust-ad, as glibc does).
func (c dnsConfig) believesAD(server serverAddr) bool {
	return c.trustAD || server.loopback
}

// config returns what to use, filling what r leaves zero from
// /etc/resolv.conf. resolv.conf's rotate and trust-ad apply to its own
// nameservers only.
func (r *DNSResolver) config() dnsConfig {
	c := dnsConfig{timeout: r.Timeout, attempts: r.Attempts, rotate: r.Rotate, trustAD: r.TrustAD}
	if len(r.Servers) > 0 {
		p := r.servers()
		c.servers, c.addrs = p.strs, p.addrs
	}
	if len(c.servers) == 0 || c.timeout <= 0 || c.attempts <= 0 {
		sys := systemConfig()
		if len(c.servers) == 0 {
			c.servers, c.addrs = sys.servers, sys.addrs
			c.rotate = c.rotate || sys.rotate
			c.trustAD = c.trustAD || sys.trustAD
		}
		if c.timeout <= 0 {
			c.timeout = sys.timeout
		}
		if c.attempts <= 0 {
			c.attempts = sys.attempts
		}
	}
	return c
}

// withPort adds port 53 to a bare host ("192.0.2.53", "2001:db8::53",
// "[2001:db8::53]").
func withPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "53")
}
