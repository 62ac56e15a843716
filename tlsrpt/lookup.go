package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// ErrDNS: the TXT lookup failed and may work later (SERVFAIL, timeout):
// whether the domain wants reports is not known.
var ErrDNS = errors.New("tlsrpt: TXT lookup failed")

// TXTFunc looks up the TXT records of name, one string per record with its
// character-strings concatenated. A name that does not exist (NXDOMAIN) or
// has no TXT records (NODATA) is (nil, nil); an error means the lookup
// failed and may work later. It is the mtasts.TXTFunc contract, so one
// adapter serves both (the mxroute Router passes its own).
type TXTFunc func(ctx context.Context, name string) ([]string, error)

// Lookup gives the TLSRPT record of a policy domain, asking txt (nil: Go's
// resolver) for _smtp._tls.<domain> (Section 3). The domain may be a
// U-label or an A-label; case and a trailing dot do not matter. Errors:
// ErrBadDomain (asks nothing), ErrDNS (temporary), ErrNoRecord and
// ErrMultipleRecords (the domain has no TLSRPT), ErrRecordSyntax (its one
// record is malformed: no TLSRPT either, but worth telling its owner).
func Lookup(ctx context.Context, domain string, txt TXTFunc) (*Record, error) {
	d, err := normDomain(domain)
	if err != nil {
		return nil, err
	}
	if txt == nil {
		txt = netTXT
	}
	name := "_smtp._tls." + d
	txts, err := txt(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: TXT %s: %w", ErrDNS, name, err)
	}
	rec, err := FindRecord(txts)
	if err != nil {
		return nil, fmt.Errorf("%w (TXT %s)", err, name)
	}
	return rec, nil
}

// netTXT asks Go's resolver, which reports NXDOMAIN and NODATA both as "not
// found", all a TXTFunc must tell apart from a failure.
func netTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := net.DefaultResolver.LookupTXT(ctx, name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, nil
	}
	return txts, err
}
