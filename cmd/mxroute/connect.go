package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// Where the command's own connections go: the --connect-to rules, and the
// dialer that applies them. Today the MTA-STS policy fetch (tlsflags.go) is
// its one user; probe's SMTP dials are the next.

// A connectRule is one --connect-to HOST:PORT=HOST:PORT, curl's habit: a
// connection to the first HOST:PORT goes to the second instead. An empty
// host or port on the left matches any ("--connect-to :443=127.0.0.1:8443"
// sends every HTTPS connection to a lab server).
type connectRule struct {
	host string     // lower case, no trailing dot; "" for any host
	addr netip.Addr // host, when it is an IP address (matched as an address, any spelling)
	port string     // "" for any port
	to   string     // host:port, as given
}

// connectRules are the --connect-to rules in the order given; the first
// that matches a connection decides where it goes.
type connectRules []connectRule

// parseConnectTo checks one --connect-to value: FROM=TO, FROM a host and
// a port (either may be empty: any), TO a host and a port (neither may be
// empty); IPv6 addresses in brackets, "[2001:db8::25]:25=[::1]:2525".
func parseConnectTo(s string) (connectRule, error) {
	bad := func(why string) error {
		return &usageError{fmt.Sprintf("--connect-to %q: %s", s, why)}
	}
	from, to, ok := strings.Cut(s, "=")
	if !ok || strings.Contains(to, "=") {
		return connectRule{}, bad("want HOST:PORT=HOST:PORT")
	}
	host, port, err := splitHostPort(from)
	if err != nil {
		return connectRule{}, bad(err.Error())
	}
	toHost, toPort, err := splitHostPort(to)
	switch {
	case err != nil:
		return connectRule{}, bad(err.Error())
	case toHost == "" || toPort == "":
		return connectRule{}, bad("the destination needs a host and a port")
	}
	r := connectRule{host: strings.TrimSuffix(strings.ToLower(host), "."), port: port, to: net.JoinHostPort(toHost, toPort)}
	if a, err := netip.ParseAddr(host); err == nil {
		r.addr = a.Unmap()
	}
	return r, nil
}

// splitHostPort splits HOST:PORT where either may be empty, and checks
// them: the host an IP address or a host name, the port 1..65535.
func splitHostPort(s string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		return "", "", errors.New(strings.TrimPrefix(err.Error(), "address "+s+": "))
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", "", fmt.Errorf("port %q: want a number in 1..65535", port)
		}
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !isHostName(host) {
			return "", "", fmt.Errorf("host %q: not an IP address or host name", host)
		}
	}
	return host, port, nil
}

// isHostName reports whether s is a host name as typed: dot-separated
// labels of letters, digits, hyphens and underscores, a trailing dot
// allowed.
func isHostName(s string) bool {
	if _, ok := dns.IsDomainName(s); !ok {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !isDigit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

// lookup returns where a connection to host:port goes, when a rule maps
// it. host is a name (matched case-insensitively, a trailing dot ignored)
// or an IP address (matched as an address).
func (rs connectRules) lookup(host, port string) (string, bool) {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	for _, r := range rs {
		if r.port != "" && r.port != port {
			continue
		}
		switch {
		case r.host == "":
		case r.addr.IsValid():
			if err != nil || r.addr != addr.Unmap() {
				continue
			}
		case r.host != name:
			continue
		}
		return r.to, true
	}
	return "", false
}

// maxDialAddrs bounds the addresses a connection to a host name tries.
const maxDialAddrs = 8

// A dialer makes the command's own connections: where a --connect-to rule
// maps host:port (the name as given), there; else to the host's addresses
// as the run's Resolver gives them (so --zone and --server answer for a
// policy host as for a mail host), IPv6 first, each mapped by address when
// a rule says so. An address that is never a remote host (loopback,
// unspecified, link-local, multicast, IPv4-mapped: RFC 6890, as the Router
// refuses them) is not dialled unless --allow-loopback allows loopback: no
// DNS answer may make the command connect to this host. A rule's
// destination is the operator's own word and is dialled as given.
type dialer struct {
	rules         connectRules
	resolver      mxroute.Resolver
	allowLoopback bool
}

// DialContext connects to address (host:port) over network ("tcp").
func (d *dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	if to, ok := d.rules.lookup(host, port); ok {
		return nd.DialContext(ctx, network, to)
	}
	addrs, err := d.addrs(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		to, ok := d.rules.lookup(a.String(), port)
		if !ok {
			to = net.JoinHostPort(a.String(), port)
		}
		c, err := nd.DialContext(ctx, network, to)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// addrs returns the addresses to dial for host: itself when it is an IP
// address, else its AAAA and A records through the run's Resolver (CNAMEs
// as the answer gives them), at most maxDialAddrs, without those that are
// never a remote host.
func (d *dialer) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if why := d.refused(a); why != "" {
			return nil, fmt.Errorf("%s: %s: not connected", host, why)
		}
		return []netip.Addr{a}, nil
	}
	var found, kept []netip.Addr
	var errs []error
	for _, qtype := range []uint16{dns.TypeAAAA, dns.TypeA} {
		msg, err := d.resolver.Resolve(ctx, dns.Fqdn(host), qtype)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError:
			errs = append(errs, fmt.Errorf("%s lookup for %s: %s", dns.TypeToString[qtype], host, dns.RcodeToString[msg.Rcode]))
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
			if a.IsValid() && rr.Header().Rrtype == qtype && len(found) < maxDialAddrs {
				found = append(found, a)
			}
		}
	}
	var refusals []string
	for _, a := range found {
		if why := d.refused(a); why != "" {
			refusals = append(refusals, a.String()+" ("+why+")")
			continue
		}
		kept = append(kept, a)
	}
	switch {
	case len(kept) > 0:
		return kept, nil
	case len(refusals) > 0:
		return nil, fmt.Errorf("%s has only %s: not connected", host, strings.Join(refusals, ", "))
	case len(errs) > 0:
		return nil, errors.Join(errs...)
	}
	return nil, fmt.Errorf("%s has no A or AAAA records", host)
}

// refused says why a is never dialled, or "" when it may be.
func (d *dialer) refused(a netip.Addr) string {
	switch {
	case a.IsLoopback() && d.allowLoopback:
		return ""
	case a.IsLoopback():
		return "loopback: this host (--allow-loopback allows it)"
	case a.Is4In6():
		return "an IPv4-mapped IPv6 address"
	case !a.IsGlobalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || a.Is4() && a.As4()[0] >= 240:
		return "no remote host (unspecified, link-local, multicast, broadcast or reserved)"
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
