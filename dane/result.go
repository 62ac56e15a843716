package dane

import (
	"strings"

	"github.com/mxroute-go/mxroute/tlsrpt"
)

// Result is an RFC 8460 (SMTP TLS Reporting, Section 4.3) result type, the
// name an MTA puts in its TLSRPT report. It is the same type as
// mtasts.Result, and an error, so errors.Is(err, dane.CertificateHostMismatch)
// tests an [*Error].
type Result = tlsrpt.Result

// The RFC 8460 result types that concern DANE. The package itself returns
// CertificateHostMismatch, CertificateExpired, CertificateNotTrusted and
// ValidationFailure; the others are for the caller that looks up the records
// and runs STARTTLS.
const (
	// StartTLSNotSupported: the server did not offer STARTTLS.
	StartTLSNotSupported = tlsrpt.StartTLSNotSupported
	// CertificateHostMismatch: a DANE-TA chain verified, but no reference
	// identifier matches the certificate's names.
	CertificateHostMismatch = tlsrpt.CertificateHostMismatch
	// CertificateExpired: a DANE-TA chain verified but for a validity period.
	CertificateExpired = tlsrpt.CertificateExpired
	// CertificateNotTrusted: no usable record matches the presented chain, or
	// the chain does not verify to the trust anchor that matched.
	CertificateNotTrusted = tlsrpt.CertificateNotTrusted
	// ValidationFailure: a failure no other type names (e.g. no certificate).
	ValidationFailure = tlsrpt.ValidationFailure
	// TLSAInvalid: the TLSA RRset has records that cannot be used
	// ([Policy.Unusable] lists them).
	TLSAInvalid = tlsrpt.TLSAInvalid
	// DNSSECInvalid: the TLSA lookup failed or was not validated where the
	// zone is signed.
	DNSSECInvalid = tlsrpt.DNSSECInvalid
	// DANERequired: DANE was required but the TLSA RRset could not be had.
	DANERequired = tlsrpt.DANERequired
)

// Error is the error of a DANE verification: its RFC 8460 result type, the
// host, and what was seen. errors.Is(err, result) holds for its Result.
type Error struct {
	Result Result // the RFC 8460 result type
	Host   string // the TLSA base domain verified against
	Detail string // what was seen, e.g. "no TLSA record matches the chain (3 1 1 ab12...)"
	Err    error  // the underlying crypto/x509 error, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dane: ")
	if e.Host != "" {
		b.WriteString("host \"" + e.Host + "\": ")
	}
	b.WriteString(string(e.Result))
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap gives the crypto/x509 cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's Result.
func (e *Error) Is(target error) bool {
	r, ok := target.(Result)
	return ok && r == e.Result
}
