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

// results are the result types a Session may carry: those of Section 4.3
// (the IANA "STARTTLS Validation Result Types" registry as the RFC creates
// it).
var results = map[Result]bool{
	StartTLSNotSupported: true, CertificateHostMismatch: true, CertificateExpired: true,
	CertificateNotTrusted: true, ValidationFailure: true, TLSAInvalid: true, DNSSECInvalid: true,
	DANERequired: true, STSPolicyFetchError: true, STSPolicyInvalid: true, STSWebPKIInvalid: true,
}

// Known reports whether r is one of the result types of Section 4.3.
func (r Result) Known() bool { return results[r] }

// PolicyType is the type of the policy a session applied, the
// "policy-type" of a report (Section 4.4).
type PolicyType string

// The policy types of Section 4.4: "Presently, the only three valid choices
// are 'tlsa', 'sts', and the literal string 'no-policy-found'".
const (
	PolicySTS      PolicyType = "sts"             // an MTA-STS policy (RFC 8461)
	PolicyTLSA     PolicyType = "tlsa"            // DANE TLSA records (RFC 7672)
	PolicyNotFound PolicyType = "no-policy-found" // neither was found
)

// Known reports whether t is one of the three policy types.
func (t PolicyType) Known() bool {
	return t == PolicySTS || t == PolicyTLSA || t == PolicyNotFound
}
