package mxroute

import (
	"context"

	"github.com/mxroute-go/mxroute/tlsrpt"
)

// TLSRPT gives the TLSRPT record of a policy domain (RFC 8460, Section 3):
// where the MTA sends the domain's daily TLS report. The TXT question for
// _smtp._tls.<domain> goes through the Router's Resolver as the route's
// questions do (the answer checked, CNAMEs followed, a Cache read in
// place). The errors are the tlsrpt package's: ErrNoRecord and
// ErrMultipleRecords (no TLSRPT: report nothing), ErrRecordSyntax,
// ErrBadDomain, and ErrDNS wrapping the Router's temporary *Error.
func (r *Router) TLSRPT(ctx context.Context, domain string) (*tlsrpt.Record, error) {
	return tlsrpt.Lookup(ctx, domain, tlsrpt.TXTFunc(r.resolverTXT(r.resolver())))
}
