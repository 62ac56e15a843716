package mxroute

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
)

// The sentinels an [*Error] unwraps to. Route never returns one of them bare:
// it returns an *Error that carries the verdict (Temporary) and the RFC 3463
// status code, so test with errors.Is and read the rest with errors.As.
var (
	// ErrNullMX: the domain publishes a null MX (RFC 7505) and accepts no
	// mail. Permanent, 5.1.10.
	ErrNullMX = errors.New("mxroute: domain accepts no mail (null MX)")
	// ErrNoSuchDomain: the domain does not exist (NXDOMAIN). Permanent, 5.1.2.
	ErrNoSuchDomain = errors.New("mxroute: no such domain")
	// ErrNoMailHost: the domain exists but has no MX, A or AAAA records.
	// Permanent, 5.1.2.
	ErrNoMailHost = errors.New("mxroute: domain has no MX, A or AAAA records")
	// ErrLoop: this host is the most preferred mail exchanger left for the
	// domain, so relaying would loop the mail back here. Permanent, 5.4.6.
	ErrLoop = errors.New("mxroute: mail for domain loops back to this host")
	// ErrNoAddress: no mail host has a usable address. Temporary (4.4.3)
	// when any lookup failed temporarily, else permanent (5.4.4); temporary
	// with 4.4.4 when this host is a backup in the MX list and every more
	// preferred host is unusable (Postfix: "unable to find primary
	// relay"): the backup keeps the mail. On a Host, the one host has no
	// usable address.
	ErrNoAddress = errors.New("mxroute: no usable address")
	// ErrCNAME: a CNAME chain loops, is longer than the limit, or (the
	// domain's own chain) reaches a target that is no host name. Temporary,
	// 4.4.3: the zone may be mended.
	ErrCNAME = errors.New("mxroute: bad CNAME chain (a loop, too long, or a target that is no host name)")
	// ErrTemporary: DNS could not answer now (SERVFAIL, REFUSED, timeout,
	// network failure, cancelled context). Temporary, 4.4.3.
	ErrTemporary = errors.New("mxroute: temporary DNS failure")
	// ErrBadDomain: the domain is empty or not a syntactically valid domain
	// or address literal (RFC 5321, Section 4.1.2 and 4.1.3). Permanent, 5.1.3.
	ErrBadDomain = errors.New("mxroute: malformed domain")
	// ErrNoConnection: Dialer.Dial tried every target and none greeted
	// with 220 (with StartTLS: none got through EHLO and STARTTLS as its
	// TLS policy requires). Temporary: 4.4.1 when no attempt got a TCP
	// connection (refused, timed out, unreachable), 4.4.2 when some did
	// and its session failed (a 4xx or 5xx greeting, a malformed or missing
	// one, a drop, a refused EHLO), 4.7.x when a host was passed over for
	// its TLS policy (4.7.4 STARTTLS not offered, 4.7.0 refused, 4.7.5 a
	// failed handshake or certificate check, as Postfix says them; the
	// Cause then carries the RFC 8460 result). Error.Attempts says what
	// each address did.
	ErrNoConnection = errors.New("mxroute: no mail host session")
	// ErrBadHello: Dialer.Hello is neither a fully qualified domain name
	// nor an address literal (RFC 5321, Section 4.1.1.1). Temporary, 4.3.5
	// (system incorrectly configured): the sender's configuration, not the
	// mail, is wrong; nothing is dialled.
	ErrBadHello = errors.New("mxroute: Dialer.Hello is no fully qualified domain name or address literal")
	// ErrMTASTS: on a Host, the domain's MTA-STS policy is in mode enforce
	// and the host matches none of its mx patterns (RFC 8461, Section
	// 4.1): not used. Temporary, 4.7.0 (RFC 8461, Section 5.1: never a
	// permanent failure before the policy was checked again); the Cause
	// is an *mtasts.Error with RFC 8460's validation-failure.
	ErrMTASTS = errors.New("mxroute: mail host excluded by the domain's MTA-STS policy")
)

// RFC 3463 enhanced status codes (and RFC 7505's 5.1.10) used by Error.Status.
const (
	statusTempDNS     = "4.4.3"  // directory server failure
	statusNoDomain    = "5.1.2"  // bad destination system address
	statusBadSyntax   = "5.1.3"  // bad destination mailbox address syntax
	statusNullMX      = "5.1.10" // RFC 7505: recipient address has null MX
	statusUnroutable  = "5.4.4"  // unable to route
	statusNoPrimary   = "4.4.4"  // unable to route, for now: a backup MX whose primaries are all unusable
	statusRoutingLoop = "5.4.6"  // routing loop detected
	statusNoAnswer    = "4.4.1"  // no answer from host
	statusBadConn     = "4.4.2"  // bad connection
)

// Error is the error Route returns and the error a Host carries. It says
// whether to defer (Temporary) or bounce, with the RFC 3463 status code to
// put in the DSN, and it unwraps to one of the Err* sentinels.
type Error struct {
	Domain    string // the domain routed, as given to Route
	Host      string // the mail host concerned, or "" when the error is about the domain
	Status    string // RFC 3463 enhanced status code, e.g. "5.1.2"
	Temporary bool   // true: defer and retry later; false: bounce
	Err       error  // one of the Err* sentinels
	Detail    string // what was seen, e.g. "MX lookup: SERVFAIL", or ""
	Cause     error  // the underlying failure (network error, context.Canceled), or nil
	// Attempts: for ErrNoConnection, every connection attempt Dial made,
	// in the order started, each with its address and why it failed; nil
	// for every other error.
	Attempts []Attempt
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mxroute: ")
	fmt.Fprintf(&b, "%q: ", e.Domain)
	if e.Host != "" {
		fmt.Fprintf(&b, "host %q: ", e.Host)
	}
	if e.Err != nil {
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "mxroute: "))
	} else {
		b.WriteString("routing failed")
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Status != "" {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	return b.String()
}

// Unwrap returns the sentinel and, when there is one, the cause, so that
// errors.Is(err, ErrNullMX) and errors.Is(err, context.DeadlineExceeded)
// both hold, and errors.As(err, &opErr) finds the *net.OpError behind a
// failed query.
func (e *Error) Unwrap() []error {
	switch {
	case e.Err == nil && e.Cause == nil:
		return nil
	case e.Cause == nil:
		return []error{e.Err}
	case e.Err == nil:
		return []error{e.Cause}
	}
	return []error{e.Err, e.Cause}
}

// IsTemporary reports whether err is (or wraps) an *Error that asks the
// caller to defer the message and retry later. It is false for nil, for a
// permanent *Error, and for errors that did not come from this package.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary
}

// newTemporary builds the 4.4.3 error for a DNS failure seen while routing domain.
func newTemporary(domain, host, detail string, cause error) *Error {
	return &Error{Domain: domain, Host: host, Status: statusTempDNS, Temporary: true,
		Err: ErrTemporary, Detail: detail, Cause: cause}
}

// implicitError says why the implicit MX of a domain without MX records is
// unusable. RFC 5321, Section 5.1: "If an empty list of MXs is returned, the
// address is treated as if it was associated with an implicit MX RR, with a
// preference of 0, pointing to that host. If MX records are present, but none
// of them are usable, or the implicit MX is unusable, this situation MUST be
// reported as an error."
//
// A temporary failure of its A or AAAA lookup stays temporary: the domain may
// have addresses that DNS could not give now. When the Family asked for one
// address family only, the other is looked up before the domain is declared
// to have no mail host at all, so that an IPv6Only sender is told "no usable
// address", not "no such mail host", for an IPv4-only domain.
func (r *Router) implicitError(ctx context.Context, res Resolver, domain string, h *mxHost) *Error {
	switch {
	case h.err.Temporary && errors.Is(h.err, ErrCNAME):
		return &Error{Domain: domain, Status: statusTempDNS, Temporary: true, Err: ErrCNAME, Detail: h.err.Detail}
	case h.err.Temporary:
		return newTemporary(domain, "", h.err.Detail, h.err.Cause)
	}
	if _, b := r.firstSpecial(h); b != nil {
		// Addresses, but none a remote mail server can have: not "no
		// mail host", which would claim the domain publishes none.
		return &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress, Detail: h.err.Detail}
	}
	useV6, useV4 := r.Family.wants()
	if useV6 && useV4 {
		return noMailHost(domain, h)
	}
	// The family the policy excludes: asked already when LocalAddrs needed
	// it for the loop guard, else asked now.
	other, qtype := &h.v4, dns.TypeA
	if !useV6 {
		other, qtype = &h.v6, dns.TypeAAAA
	}
	ans, lerr := other.ans, other.err
	if !other.looked {
		ans, lerr = lookup(ctx, res, h.fqdn, qtype, r.maxRRs(qtype))
	}
	switch {
	case lerr != nil: // unknown: the domain may have addresses, just none usable here
		return &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress, Detail: h.err.Detail}
	case ans.kind == found:
		return &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress,
			Detail: "the domain has no MX records and only " + typeName(qtype) +
				" records, which the family policy " + r.Family.String() + " excludes"}
	}
	return noMailHost(domain, h)
}

// noMailHost is ErrNoMailHost: no MX records, and no address records either.
func noMailHost(domain string, h *mxHost) *Error {
	return &Error{Domain: domain, Status: statusNoDomain, Err: ErrNoMailHost,
		Detail: "no MX records and no A or AAAA records for " + h.name}
}

// noPrimary turns err (ErrNoAddress) into the deferral of a backup mail
// exchanger: this host is in the MX list and every more preferred host is
// unusable. The backup accepted the mail on the primary's behalf and must
// keep it until a primary is reachable again; bouncing would lose it.
// Postfix defers such mail with 4.4.4 ("unable to find primary relay");
// RFC 5321, Section 5.1 makes a loop an error only when "there are no
// records left", which is not the case here.
func (ro *routing) noPrimary(err *Error) {
	err.Status, err.Temporary = statusNoPrimary, true
	detail := "this host is a backup mail exchanger for " + ro.rt.Canonical + " and no more preferred host is usable: keep the mail"
	if err.Detail != "" {
		detail += "; " + err.Detail
	}
	err.Detail = detail
}

// loopError is ErrLoop: the loop guard left no host.
func (ro *routing) loopError() *Error {
	return &Error{Domain: ro.domain, Status: statusRoutingLoop, Err: ErrLoop,
		Detail: "this host is a mail exchanger for " + ro.rt.Canonical + " and none is more preferred"}
}

// ctxError is the temporary error of a route whose context ended before its
// addresses were known.
func ctxError(domain string, err error) *Error {
	return newTemporary(domain, "", "address lookups: "+err.Error(), err)
}

// noAddressError returns ErrNoAddress when no host is usable.
//
// RFC 5321, Section 5.1: "If MX records are present, but none of them are
// usable, this situation MUST be reported as an error." It is temporary when
// any host failed temporarily: that host may work on the next try.
func noAddressError(domain string, hosts []*mxHost) *Error {
	var first, temp *Error
	for _, h := range hosts {
		if h.err == nil {
			return nil
		}
		if first == nil {
			first = h.err
		}
		if temp == nil && h.err.Temporary {
			temp = h.err
		}
	}
	e := &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress}
	if temp != nil {
		e.Status, e.Temporary, e.Cause = statusTempDNS, true, temp.Cause
		first = temp
	}
	if first != nil {
		e.Detail = fmt.Sprintf("%d mail host(s), none usable; %s: %s", len(hosts), first.Host, first.Detail)
	}
	return e
}

// domainError turns a failed question about the domain itself into an *Error.
func domainError(domain string, lerr *lookupError) *Error {
	if lerr.cname {
		return &Error{Domain: domain, Status: statusTempDNS, Temporary: true, Err: ErrCNAME, Detail: lerr.detail}
	}
	return newTemporary(domain, "", lerr.detail, lerr.cause)
}

// hostError says why a looked-up host has no usable address: a temporary
// failure of either lookup wins (the host may work later, so the mail must
// wait for it), then a CNAME fault, then the permanent "no address".
func (r *Router) hostError(domain string, h *mxHost) *Error {
	f := r.Family
	var temp, cname, bad *lookupError
	nx, looked := 0, 0
	for _, ar := range []*addrResult{&h.v6, &h.v4} {
		if !ar.looked {
			continue
		}
		looked++
		switch {
		case ar.err == nil:
			if ar.ans.kind == noDomain {
				nx++
			}
		case ar.err.badName:
			bad = ar.err
		case ar.err.cname:
			cname = ar.err
		default:
			temp = ar.err
		}
	}
	switch {
	case temp != nil:
		return newTemporary(domain, h.name, temp.detail, temp.cause)
	case bad != nil:
		// Like an MX target that is no host name (see mxHosts): the
		// host's data is malformed, not missing for now.
		return &Error{Domain: domain, Host: h.name, Status: statusUnroutable, Err: ErrNoAddress, Detail: bad.detail}
	case cname != nil:
		return &Error{Domain: domain, Host: h.name, Status: statusTempDNS, Temporary: true,
			Err: ErrCNAME, Detail: cname.detail}
	}
	if a, b := r.firstSpecial(h); b != nil {
		// RFC 6890: an address no remote mail server can have.
		return &Error{Domain: domain, Host: h.name, Status: statusUnroutable, Err: ErrNoAddress,
			Detail: "no usable address: " + b.describe(a)}
	}
	detail := "no A or AAAA records"
	switch {
	case looked > 0 && nx == looked:
		detail = "host does not exist (NXDOMAIN)"
	case f == IPv4Only && len(h.v6.addrs) > 0:
		detail = "only IPv6 addresses, and the family policy is IPv4Only"
	case f == IPv6Only && len(h.v4.addrs) > 0:
		detail = "only IPv4 addresses, and the family policy is IPv6Only"
	case f == IPv4Only:
		detail = "no A records"
	case f == IPv6Only:
		detail = "no AAAA records"
	}
	return &Error{Domain: domain, Host: h.name, Status: statusUnroutable, Err: ErrNoAddress, Detail: detail}
}

// stsError is the temporary error of a host that matches no mx pattern of
// an enforced policy, with an *mtasts.Error carrying RFC 8460's
// validation-failure and the policy id.
func stsError(domain, host string, p *mtasts.Policy) *Error {
	detail := fmt.Sprintf("MX host matches no mx pattern of the MTA-STS policy (id %s, mode %s, mx %s)", p.ID, p.Mode, patterns(p))
	return &Error{Domain: domain, Host: host, Status: statusSTSNoMX, Temporary: true, Err: ErrMTASTS, Detail: detail,
		Cause: &mtasts.Error{Result: mtasts.ValidationFailure, Domain: domain, Host: host, Detail: detail}}
}

// tlsaError is the temporary error of a host whose TLSA lookup failed: 4.4.3
// (a directory server failure, RFC 3463), ErrTemporary, with a *dane.Error
// carrying the RFC 8460 result as its cause.
func tlsaError(domain, host string, res dane.Result, detail string, cause error) *Error {
	return &Error{Domain: domain, Host: host, Status: statusTempDNS, Temporary: true, Err: ErrTemporary, Detail: detail,
		Cause: &dane.Error{Result: res, Host: host, Detail: detail, Err: cause}}
}
