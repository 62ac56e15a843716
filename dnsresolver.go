package mxroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Defaults of DNSResolver, as glibc and Go's resolver use them.
const (
	defaultTimeout  = 5 * time.Second
	defaultAttempts = 2
	// ednsBufSize is the EDNS0 UDP payload size agreed on DNS Flag Day
	// 2020: large enough for most MX and address sets, small enough to
	// avoid IP fragmentation.
	ednsBufSize = 1232
)

// DNSResolver asks DNS servers directly, with miekg/dns: UDP with EDNS0,
// TCP when the UDP answer is truncated, and retries over Servers. Its zero
// value uses the nameservers and options of /etc/resolv.conf. It is safe for
// concurrent use; it must not be copied after first use.
//
// It believes nothing the wire says without checking: a reply counts only
// when it comes from the server asked (a connected socket), carries the
// question's ID, has QR set and repeats the question (name
// case-insensitively, type and class). Over UDP anything else is discarded
// and the wait goes on until the attempt's timeout, so a forged or stray
// datagram cannot end an exchange; over TCP it fails the attempt. A
// truncated reply is never returned: it is asked again over TCP, and a TCP
// reply that is truncated too fails the attempt.
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
	// 5.7) in every question, so that a validating recursive resolver
	// says in the AD bit of its reply whether the answer was authenticated.
	// The library validates nothing itself: that is the recursive
	// resolver's job. false: neither bit is set, and AuthenticatedData is
	// false in every reply returned.
	DNSSEC bool
	// TrustAD believes the AD bit from every server. false: the AD bit is
	// believed only from servers on a loopback address (127.0.0.0/8, ::1),
	// and from the nameservers of resolv.conf when Servers is empty and
	// resolv.conf says "options trust-ad"; from any other server it is
	// cleared in the reply returned, as glibc does (the path to a resolver
	// across the network can be forged unless it is otherwise secured).
	TrustAD bool

	next atomic.Uint32 // the next starting server, for Rotate
}

// dnsConfig is what one Resolve call uses: the struct's fields, with
// resolv.conf filling the zero ones.
type dnsConfig struct {
	servers  []string
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
	for range cfg.attempts {
		for i := range n {
			server := cfg.servers[(start+i)%n]
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, typeName(qtype), err)
			}
			resp, err := exchange(ctx, q, server, cfg.timeout)
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
	return nil, fmt.Errorf("%s %s: %w", name, typeName(qtype), lastErr)
}

// exchange asks one server once, with a fresh ID: UDP, then TCP if the
// answer was truncated.
func exchange(ctx context.Context, q *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	// The attempt's own deadline has its own cause, so that a slow server
	// does not read as the caller's deadline (context.DeadlineExceeded).
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, attemptTimeout(timeout))
	defer cancel()
	q = q.Copy()
	q.Id = dns.Id() // crypto-random: RFC 5452, Section 9.2
	resp, err := exchangeOnce(ctx, "udp", q, server)
	if err == nil && resp.Truncated {
		// RFC 2181, Section 9 (after RFC 1035, Section 4.2.1): a reply
		// with TC set is ignored and the question asked again over TCP.
		// miekg/dns returns the truncated message without doing so.
		resp, err = exchangeOnce(ctx, "tcp", q, server)
		if err == nil && resp.Truncated {
			err = errors.New("truncated reply over TCP")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	return resp, nil
}

// exchangeOnce is one exchange over network ("udp" or "tcp") that ends when
// ctx does: the connection is closed under a read that ctx outlives.
//
// RFC 5452, Section 3 lists when a resolver accepts a reply: its question
// section equals that of a question still waiting for a response, its ID
// matches the question's, and it comes from the address the question went
// to (and arrives on the address and port it left from). The connected
// socket sees to the addresses; replyTo to the rest. Anything else is
// discarded while the wait goes on, as draft-li-dnsop-response-preprocessing
// ("Awaiting Valid Responses", after the TUDOOR attacks) asks.
func exchangeOnce(ctx context.Context, network string, q *dns.Msg, server string) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	co := &dns.Conn{Conn: conn}
	if err := co.WriteMsg(q); err != nil {
		return nil, ctxErr(ctx, err)
	}
	if network != "udp" {
		// One message on a stream: garbage or a reply to something else
		// means the stream cannot be trusted.
		resp, err := co.ReadMsg()
		switch {
		case err != nil:
			return nil, ctxErr(ctx, err)
		case !replyTo(resp, q):
			return nil, errors.New("reply does not match the question")
		}
		return resp, nil
	}
	// Datagrams: a stray or forged one is dropped and the wait goes on,
	// so it cannot end the exchange early. Read the largest datagram, not
	// just the advertised buffer: a cut datagram would not unpack.
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf := *bp
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		resp := new(dns.Msg)
		if resp.Unpack(buf[:n]) == nil && replyTo(resp, q) {
			return resp, nil
		}
	}
}

// udpBufs holds read buffers of the largest DNS message.
var udpBufs = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

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

// sameQuestion reports whether m's question section is exactly q (the name
// compared case-insensitively, RFC 4343).
func sameQuestion(m *dns.Msg, q dns.Question) bool {
	if len(m.Question) != 1 {
		return false
	}
	a := m.Question[0]
	return a.Qtype == q.Qtype && a.Qclass == q.Qclass && strings.EqualFold(a.Name, q.Name)
}

// believesAD reports whether the AD bit of server's replies is believed.
//
// RFC 4035, Section 4.9.3: "a security-aware stub resolver MUST NOT place
// any reliance on signature validation allegedly performed on its behalf,
// except when the security-aware stub resolver obtained the data in question
// from a trusted security-aware recursive name server via a secure channel."
// A server on loopback is on this host; any other is trusted only when
// configured so (TrustAD, or resolv.conf's trust-ad, as glibc does).
func (c dnsConfig) believesAD(server string) bool {
	return c.trustAD || isLoopback(server)
}

// isLoopback reports whether a "host:port" server is on a loopback address.
func isLoopback(server string) bool {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// config returns what to use, filling what r leaves zero from
// /etc/resolv.conf. resolv.conf's rotate and trust-ad apply to its own
// nameservers only.
func (r *DNSResolver) config() dnsConfig {
	c := dnsConfig{servers: r.Servers, timeout: r.Timeout, attempts: r.Attempts, rotate: r.Rotate, trustAD: r.TrustAD}
	if len(c.servers) == 0 || c.timeout <= 0 || c.attempts <= 0 {
		sys := systemConfig()
		if len(c.servers) == 0 {
			c.servers = sys.servers
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
	out := make([]string, len(c.servers))
	for i, s := range c.servers {
		out[i] = withPort(s)
	}
	c.servers = out
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
