package mxroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
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
// concurrent use.
type DNSResolver struct {
	// Servers are "host:port" addresses ("192.0.2.53:53", "[2001:db8::53]:53");
	// a bare host gets port 53. Empty: the nameservers of /etc/resolv.conf
	// (127.0.0.1 and ::1 when it has none).
	Servers []string
	// Timeout bounds each attempt. 0: resolv.conf's "options timeout", or 5s.
	Timeout time.Duration
	// Attempts is how many rounds over Servers are made. 0: resolv.conf's
	// "options attempts", or 2.
	Attempts int
}

// Resolve sends the question to each server in turn, up to Attempts rounds.
// NOERROR and NXDOMAIN are final. SERVFAIL, REFUSED, any other rcode, a
// reply to another question and no reply make it try the next server. When
// every try ended in a response, the last one is returned (the caller reads
// its rcode); when none did, the error wraps the last failure.
func (r *DNSResolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	servers, timeout, attempts := r.config()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	// RFC 6891: advertise a larger UDP payload so that a big MX or address
	// set fits in one datagram.
	q.SetEdns0(ednsBufSize, false)

	var last *dns.Msg
	var lastErr error
	for range attempts {
		for _, server := range servers {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, typeName(qtype), err)
			}
			resp, err := exchange(ctx, q, server, timeout)
			switch {
			case err != nil:
				lastErr = err
				continue
			case resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError:
				return resp, nil
			}
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

// exchange asks one server once: UDP, then TCP if the answer was truncated.
func exchange(ctx context.Context, q *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := exchangeOnce(ctx, &dns.Client{Net: "udp", UDPSize: ednsBufSize, Timeout: timeout}, q, server)
	if err == nil && resp.Truncated {
		// RFC 7766, Section 6.2.1 (after RFC 1035, Section 4.2.1): a
		// truncated UDP response is retried over TCP. miekg/dns returns
		// the truncated message without doing so.
		resp, err = exchangeOnce(ctx, &dns.Client{Net: "tcp", Timeout: timeout}, q, server)
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", server, err)
	}
	if !answers(resp, q) {
		return nil, fmt.Errorf("server %s: reply does not match the question", server)
	}
	return resp, nil
}

// exchangeOnce is one exchange that ends when ctx does: miekg/dns reads
// until its deadline even after ctx is cancelled, so the connection is
// closed under it.
func exchangeOnce(ctx context.Context, c *dns.Client, q *dns.Msg, server string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err() // the closed connection's error says less
	}
	return resp, err
}

// answers reports whether resp is a reply to q: miekg/dns checks the ID, this
// checks the question (name case-insensitively, type and class).
func answers(resp, q *dns.Msg) bool {
	if !resp.Response || len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// config returns the servers, timeout and attempts to use, filling what r
// leaves zero from /etc/resolv.conf.
func (r *DNSResolver) config() (servers []string, timeout time.Duration, attempts int) {
	servers, timeout, attempts = r.Servers, r.Timeout, r.Attempts
	if len(servers) == 0 || timeout <= 0 || attempts <= 0 {
		sys := systemConfig()
		if len(servers) == 0 {
			servers = sys.servers
		}
		if timeout <= 0 {
			timeout = sys.timeout
		}
		if attempts <= 0 {
			attempts = sys.attempts
		}
	}
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = withPort(s)
	}
	return out, timeout, attempts
}

// withPort adds port 53 to a bare host ("192.0.2.53", "2001:db8::53",
// "[2001:db8::53]").
func withPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "53")
}

// resolvConf is what /etc/resolv.conf says, as far as DNSResolver uses it.
type resolvConf struct {
	servers  []string
	timeout  time.Duration
	attempts int
	read     time.Time
}

var (
	resolvConfPath = "/etc/resolv.conf"
	resolvConfMu   sync.Mutex
	resolvConfLast *resolvConf
)

// systemConfig reads resolv.conf, at most once every five seconds (as Go's
// own resolver does), so that a changed file is picked up.
func systemConfig() *resolvConf {
	resolvConfMu.Lock()
	defer resolvConfMu.Unlock()
	if c := resolvConfLast; c != nil && time.Since(c.read) < 5*time.Second {
		return c
	}
	c := &resolvConf{timeout: defaultTimeout, attempts: defaultAttempts, read: time.Now()}
	if cc, err := dns.ClientConfigFromFile(resolvConfPath); err == nil {
		for _, s := range cc.Servers {
			c.servers = append(c.servers, net.JoinHostPort(s, cmpOr(cc.Port, "53")))
		}
		if cc.Timeout > 0 {
			c.timeout = time.Duration(cc.Timeout) * time.Second
		}
		if cc.Attempts > 0 {
			c.attempts = cc.Attempts
		}
	}
	if len(c.servers) == 0 {
		// What Go's resolver and glibc use when resolv.conf names none.
		c.servers = []string{"127.0.0.1:53", "[::1]:53"}
	}
	resolvConfLast = c
	return c
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	if _, err := strconv.Atoi(s); err != nil {
		return def
	}
	return s
}
