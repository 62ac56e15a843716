// Package tlsrpt holds the RFC 8460 (SMTP TLS Reporting) result types that
// packages dane and mtasts both report, so an MTA compares and counts them as
// one type whichever package failed.
package tlsrpt

// Result is an RFC 8460 result type (Section 4.3), e.g.
// "certificate-host-mismatch". It is an error, so errors.Is(err, result)
// can test a package error that carries it.
type Result string

// The result types of RFC 8460, Sections 4.3.1 and 4.3.2.
const (
	// Negotiation failures (Section 4.3.1).
	StartTLSNotSupported    Result = "starttls-not-supported"
	CertificateHostMismatch Result = "certificate-host-mismatch"
	CertificateExpired      Result = "certificate-expired"
	CertificateNotTrusted   Result = "certificate-not-trusted"
	ValidationFailure       Result = "validation-failure"
	// Policy failures, DANE (Section 4.3.2.1).
	TLSAInvalid   Result = "tlsa-invalid"
	DNSSECInvalid Result = "dnssec-invalid"
	DANERequired  Result = "dane-required"
	// Policy failures, MTA-STS (Section 4.3.2.2).
	STSPolicyFetchError Result = "sts-policy-fetch-error"
	STSPolicyInvalid    Result = "sts-policy-invalid"
	STSWebPKIInvalid    Result = "sts-webpki-invalid"
)

// Error makes a Result an error, the target of errors.Is.
func (r Result) Error() string { return "mxroute: TLS failure " + string(r) }
