package main

import (
	"context"
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

// lint judges the MX TTL the zone publishes, never a cache's remainder: a
// caching resolver hands out the TTL it has left (RFC 1035, Section 3.2.1:
// "the time interval that the resource record may be cached before the
// source of the information should again be consulted"), so a warning on
// it would depend on when the cache last asked. publishedTTL finds the
// published TTL: from a zone file (--zone), from an authoritative answer
// (AA) of a server lint asks anyway, or by asking the zone's authoritative
// servers themselves: the NS RRset of the closest enclosing zone, their
// addresses, and an MX question with RD=0 to each until one answers with
// AA. --auth-server names the servers to ask instead of the NS RRset's (a
// hidden primary; the integration tests' BIND); --auth-port another port
// for the NS addresses (test servers on loopback). When none answers with
// AA, the TTL is unknown and the TTL checks are left out.

// ttlSource is the MX TTL as published, or why it is not known.
type ttlSource struct {
	ttl  uint32
	ok   bool
	from string // ok: where it was read ("zone file", "ns1.example.com (192.0.2.53)")
	why  string // !ok: why it is not known
}

// Bounds of the authoritative lookup: a zone rarely has more than a few
// name servers, and each question waits at most authTimeout.
const (
	maxNSAddrs  = 8
	authTimeout = 3 * time.Second
)

// publishedTTL returns the TTL of name's MX RRset as its zone publishes it.
// routeTTL is the TTL the route saw; views the --server answers, if lint
// asked several servers.
func publishedTTL(ctx context.Context, cfg *lintRun, name string, routeTTL uint32, views []serverView) ttlSource {
	if cfg.zoneFiles {
		return ttlSource{ttl: routeTTL, ok: true, from: "zone file"}
	}
	for _, v := range views {
		if v.found && v.auth {
			return ttlSource{ttl: v.ttl, ok: true, from: v.server}
		}
	}
	fqdn := dns.Fqdn(name)
	if len(views) == 0 {
		// One resolver (--server or resolv.conf), asked without the run's
		// Cache: an authoritative server answers with AA, a cache without.
		if msg, err := cfg.resolvers[0].Resolve(ctx, fqdn, dns.TypeMX); err == nil && msg.Authoritative {
			if ttl, found := mxTTLOf(msg, fqdn); found {
				return ttlSource{ttl: ttl, ok: true, from: "the server's authoritative answer"}
			}
		}
	}
	cacheNote := fmt.Sprintf("only a cache answered (no AA bit; its TTL, %d s, counts down)", routeTTL)
	var zone string
	var servers []nsAddr
	if len(cfg.authServers) > 0 {
		zone = "the domain"
		for _, a := range cfg.authServers {
			servers = append(servers, nsAddr{name: "--auth-server", server: a})
		}
	} else {
		var err error
		if zone, servers, err = zoneServers(ctx, cfg.resolver, fqdn); err != nil {
			return ttlSource{why: cacheNote + ", and " + err.Error()}
		}
		zone = strings.TrimSuffix(zone, ".")
	}
	// Every server at once: a dead one costs one authTimeout, not one
	// each. The first authoritative answer, in the servers' order of
	// listing among those that answered, wins.
	type reply struct {
		ttl uint32
		err error
	}
	replies := make([]chan reply, len(servers))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, s := range servers {
		replies[i] = make(chan reply, 1)
		addr := s.server
		if addr == "" {
			addr = net.JoinHostPort(s.addr.String(), strconv.Itoa(cfg.authPort))
		}
		servers[i].server = addr
		go func() {
			ttl, err := askAuthoritative(ctx, addr, fqdn)
			replies[i] <- reply{ttl, err}
		}()
	}
	var tried []string
	for i, s := range servers {
		r := <-replies[i]
		if r.err == nil {
			return ttlSource{ttl: r.ttl, ok: true, from: fmt.Sprintf("%s (%s)", s.name, s.server)}
		}
		tried = append(tried, fmt.Sprintf("%s (%s): %v", s.name, s.server, r.err))
	}
	return ttlSource{why: fmt.Sprintf("%s, and no authoritative server of %s gave the MX RRset: %s", cacheNote, zone, strings.Join(tried, "; "))}
}

// mxTTLOf returns the smallest TTL of the MX records owned by name. A TTL
// with the top bit set counts as 0, as senders (and the library's Cache)
// read it: RFC 2181, Section 8 gives the TTL "a maximum of 2147483647",
// and "implementations should treat TTL values received with the most
// significant bit set as if the entire value received was zero".
func mxTTLOf(msg *dns.Msg, name string) (uint32, bool) {
	var ttl uint32
	found := false
	for _, rr := range msg.Answer {
		if mx, ok := rr.(*dns.MX); ok && strings.EqualFold(mx.Hdr.Name, name) {
			t := mx.Hdr.Ttl
			if t > math.MaxInt32 {
				t = 0
			}
			if !found || t < ttl {
				ttl = t
			}
			found = true
		}
	}
	return ttl, found
}

type nsAddr struct {
	name   string // the name server, no trailing dot
	addr   netip.Addr
	server string // --auth-server: host:port, asked as given
}

// zoneServers finds the zone that holds name (the closest enclosing name
// with an NS RRset, asked through res) and the addresses of its servers,
// at most maxNSAddrs of them.
func zoneServers(ctx context.Context, res mxroute.Resolver, name string) (string, []nsAddr, error) {
	zone := name
	var hosts []string
	for {
		msg, err := res.Resolve(ctx, zone, dns.TypeNS)
		if err != nil {
			return "", nil, fmt.Errorf("the NS lookup for %s failed: %v", strings.TrimSuffix(zone, "."), err)
		}
		if msg.Rcode == dns.RcodeSuccess || msg.Rcode == dns.RcodeNameError {
			for _, rr := range msg.Answer {
				if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) {
					hosts = append(hosts, ns.Ns)
				}
			}
		} else {
			return "", nil, fmt.Errorf("the NS lookup for %s failed: %s", strings.TrimSuffix(zone, "."), dns.RcodeToString[msg.Rcode])
		}
		if len(hosts) > 0 {
			break
		}
		off, end := dns.NextLabel(zone, 0)
		if end || dns.CountLabel(zone) <= 1 {
			// Never the root or a top-level domain: their servers refer,
			// they do not answer for a mail domain.
			return "", nil, fmt.Errorf("no NS RRset found at or above %s", strings.TrimSuffix(name, "."))
		}
		zone = zone[off:]
	}
	var out []nsAddr
	for _, h := range hosts {
		for _, qtype := range []uint16{dns.TypeAAAA, dns.TypeA} {
			msg, err := res.Resolve(ctx, h, qtype)
			if err != nil || msg.Rcode != dns.RcodeSuccess {
				continue
			}
			for _, rr := range msg.Answer {
				var a netip.Addr
				switch rr := rr.(type) {
				case *dns.A:
					a, _ = netip.AddrFromSlice(rr.A.To4())
				case *dns.AAAA:
					a, _ = netip.AddrFromSlice(rr.AAAA)
				}
				// A name server at an address no server can have is
				// skipped; a loopback one is asked (a local authoritative
				// server, or the tests': a local cache would answer RD=0
				// without AA, which is not taken).
				if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
					continue
				}
				if len(out) < maxNSAddrs {
					out = append(out, nsAddr{name: strings.TrimSuffix(h, "."), addr: a.Unmap()})
				}
			}
		}
	}
	if len(out) == 0 {
		return "", nil, fmt.Errorf("no address found for the name servers of %s", strings.TrimSuffix(zone, "."))
	}
	return zone, out, nil
}

// askAuthoritative asks server for name's MX RRset with RD=0 and returns
// its TTL from an authoritative answer (AA); UDP first, TCP when truncated.
func askAuthoritative(ctx context.Context, server, name string) (uint32, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeMX)
	q.RecursionDesired = false
	q.SetEdns0(1232, false)
	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	var msg *dns.Msg
	var err error
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network}
		msg, _, err = c.ExchangeContext(ctx, q, server)
		if err != nil {
			return 0, err
		}
		if !msg.Truncated {
			break
		}
	}
	switch {
	case msg.Truncated:
		return 0, fmt.Errorf("truncated answer")
	case len(msg.Question) != 1 || !strings.EqualFold(msg.Question[0].Name, name) || msg.Question[0].Qtype != dns.TypeMX:
		return 0, fmt.Errorf("answer to another question")
	case msg.Rcode != dns.RcodeSuccess:
		return 0, fmt.Errorf("%s", dns.RcodeToString[msg.Rcode])
	case !msg.Authoritative:
		return 0, fmt.Errorf("not authoritative (no AA)")
	}
	ttl, found := mxTTLOf(msg, name)
	if !found {
		return 0, fmt.Errorf("no MX records in its authoritative answer")
	}
	return ttl, nil
}
