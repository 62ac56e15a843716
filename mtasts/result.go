package mtasts

import (
	"errors"
	"strings"

	"github.com/mxroute-go/mxroute/tlsrpt"
)

// Result is an RFC 8460 (SMTP TLS Reporting, Section 4.3) result type, the
// name an MTA puts in its TLSRPT report. It is the same type as
// dane.Result, and an error, so errors.Is(err, mtasts.FetchError) tests an
// [*Error].
type Result = tlsrpt.Result

// The RFC 8460 result types of MTA-STS: the policy failures (Section
// 4.3.2.2), which Fetch and Lookup return, and the certificate failures of an
// MX host (Section 4.3.1), which the VerifyConnection of [TLSConfig] returns.
const (
	// FetchError: the policy could not be retrieved (connection, DNS of the
	// policy host, timeout, an HTTP status other than 200, a redirect).
	FetchError = tlsrpt.STSPolicyFetchError
	// PolicyInvalid: the policy was retrieved but is not valid (syntax,
	// media type, size).
	PolicyInvalid = tlsrpt.STSPolicyInvalid
	// WebPKIInvalid: the policy host's certificate is not WebPKI-valid for
	// mta-sts.<domain>.
	WebPKIInvalid = tlsrpt.STSWebPKIInvalid

	// StartTLSNotSupported: the MX host did not offer STARTTLS.
	StartTLSNotSupported = tlsrpt.StartTLSNotSupported
	// CertificateHostMismatch: the MX host's certificate has no DNS-ID for
	// its name.
	CertificateHostMismatch = tlsrpt.CertificateHostMismatch
	// CertificateExpired: the MX host's certificate (or its chain) is out of
	// its validity period.
	CertificateExpired = tlsrpt.CertificateExpired
	// CertificateNotTrusted: the chain does not lead to a trusted root.
	CertificateNotTrusted = tlsrpt.CertificateNotTrusted
	// ValidationFailure: another certificate failure.
	ValidationFailure = tlsrpt.ValidationFailure
)

// Sentinels about the TXT record (RFC 8461, Section 3.1). They are not RFC
// 8460 failures: without a usable record the domain has no available policy.
var (
	// ErrNoRecord: no TXT record at _mta-sts.<domain> begins with "v=STSv1;".
	ErrNoRecord = errors.New("mtasts: no MTA-STS TXT record")
	// ErrMultipleRecords: more than one record begins with "v=STSv1;".
	ErrMultipleRecords = errors.New("mtasts: more than one MTA-STS TXT record")
	// ErrRecordSyntax: the record does not follow the grammar of Section 3.1.
	ErrRecordSyntax = errors.New("mtasts: malformed MTA-STS TXT record")
	// ErrDNS: the TXT lookup failed temporarily.
	ErrDNS = errors.New("mtasts: TXT lookup failed")
	// ErrBadDomain: the domain given is not a host name (letters, digits,
	// hyphens, dots; an A-label for an IDN), so it has no policy host.
	ErrBadDomain = errors.New("mtasts: not a valid domain")
	// ErrPolicySyntax: the policy does not follow the grammar of Section 3.2.
	// An *Error with PolicyInvalid wraps it.
	ErrPolicySyntax = errors.New("mtasts: malformed MTA-STS policy")
)

// Error is the error of a lookup or a fetch: the RFC 8460 result type when
// there is one, the domain, what was seen and the cause. errors.Is reaches
// the Result, the sentinel in Err and whatever Err wraps.
type Error struct {
	Result Result // RFC 8460 result type; "" for a TXT record problem
	Domain string // the recipient (policy) domain; "" for an MX host's certificate
	Host   string // the MX host, for a certificate failure (VerifyMX); else ""
	Detail string // what was seen, e.g. `HTTP status 404 from https://mta-sts.example.com/...`
	Err    error  // a sentinel of this package, or the underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mtasts: ")
	if e.Domain != "" {
		b.WriteString("\"" + e.Domain + "\": ")
	}
	if e.Host != "" {
		b.WriteString("host \"" + e.Host + "\": ")
	}
	if e.Result != "" {
		b.WriteString(string(e.Result))
	} else {
		b.WriteString("policy discovery")
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + strings.TrimPrefix(e.Err.Error(), "mtasts: "))
	}
	return b.String()
}

// Unwrap gives the sentinel or cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's Result.
func (e *Error) Is(target error) bool {
	r, ok := target.(Result)
	return ok && r != "" && r == e.Result
}
