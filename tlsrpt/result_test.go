package tlsrpt

import (
	"errors"
	"fmt"
	"testing"
)

// TestNames: the strings are RFC 8460's, Section 4.3, letter for letter.
func TestNames(t *testing.T) {
	want := map[Result]string{
		StartTLSNotSupported:    "starttls-not-supported",
		CertificateHostMismatch: "certificate-host-mismatch",
		CertificateExpired:      "certificate-expired",
		CertificateNotTrusted:   "certificate-not-trusted",
		ValidationFailure:       "validation-failure",
		TLSAInvalid:             "tlsa-invalid",
		DNSSECInvalid:           "dnssec-invalid",
		DANERequired:            "dane-required",
		STSPolicyFetchError:     "sts-policy-fetch-error",
		STSPolicyInvalid:        "sts-policy-invalid",
		STSWebPKIInvalid:        "sts-webpki-invalid",
	}
	if len(want) != 11 {
		t.Fatalf("%d distinct results, want 11", len(want))
	}
	for r, s := range want {
		if string(r) != s {
			t.Errorf("%q, want %q", r, s)
		}
	}
	err := fmt.Errorf("wrapped: %w", CertificateExpired)
	if !errors.Is(err, CertificateExpired) || errors.Is(err, CertificateNotTrusted) {
		t.Error("a Result is an errors.Is target")
	}
}
