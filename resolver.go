package mxroute

import (
	"context"

	"github.com/miekg/dns"
)

// A Resolver asks DNS one question. The Router needs nothing else from DNS,
// so a cache, a test double or an adapter to another DNS library is a
// Resolver too.
type Resolver interface {
	// Resolve asks one question and returns the response whatever its rcode
	// (NOERROR, NXDOMAIN, SERVFAIL ...), CNAMEs included. A non-nil error means no usable
	// response arrived (timeout, network failure) and is treated as temporary.
	//
	// name is fully qualified (it ends in a dot) and lower case. qtype is
	// dns.TypeMX, dns.TypeA or dns.TypeAAAA; with Router.MTASTS (its TXT
	// nil) also dns.TypeTXT, at _mta-sts.<domain>; with Router.DANE also
	// dns.TypeTLSA, at _25._tcp.<host>. The Router does not modify the
	// returned message.
	//
	// The Router trusts nothing in the message it did not ask for: its
	// question section must be the question asked (name compared
	// case-insensitively, type, class IN), or the response counts as a
	// temporary failure, as does a truncated one; of its records only
	// those of the type asked (or CNAMEs) of class IN owned by the name or
	// a name on its CNAME chain are used. It does believe the AD bit
	// (AuthenticatedData) for Route.Authentic and Host.Authentic: a
	// Resolver must clear it unless it trusts the validation behind it.
	Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)
}

// ResolverFunc adapts a function to the Resolver interface.
type ResolverFunc func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)

// Resolve calls f(ctx, name, qtype).
func (f ResolverFunc) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	return f(ctx, name, qtype)
}
