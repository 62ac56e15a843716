package mtasts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TLSConfig gives a new *tls.Config for STARTTLS to an MX host under an
// MTA-STS policy in mode enforce or testing (RFC 8461, Section 4.2): SNI is
// the MX host name (Section 7.1), TLS 1.2 at least (Section 7.2); the
// certificate "MUST chain to a root CA that is trusted
// by the sending MTA" (roots; nil: the system's), must be within its
// validity period, and must carry a DNS-ID (subjectAltName dNSName) that
// matches the MX host name, a wildcard only as the whole leftmost label; the
// subject CN is not used. crypto/x509 does the checks in VerifyConnection,
// so a failed handshake returns an [*Error] with its RFC 8460 result
// (CertificateNotTrusted, CertificateExpired, CertificateHostMismatch,
// ValidationFailure). Whether the MX host may be used at all is
// [Policy.Match]'s to say; with mode testing the caller goes on without
// authentication after a failure and reports it.
func TLSConfig(mxHost string, roots *x509.CertPool) *tls.Config {
	host := normDomain(mxHost)
	return &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // VerifyConnection below verifies, with typed errors
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyMX(cs.PeerCertificates, host, roots, time.Time{})
		},
	}
}

// VerifyMX checks an MX host's certificate chain (leaf first, as sent) the
// way TLSConfig does, at now (zero: the current time): the chain to roots
// first, then the name, so an untrusted certificate is reported as such
// whatever names it carries.
func VerifyMX(certs []*x509.Certificate, mxHost string, roots *x509.CertPool, now time.Time) error {
	host := normDomain(mxHost)
	if len(certs) == 0 || certs[0] == nil {
		return &Error{Result: ValidationFailure, Host: host, Detail: "server sent no certificate"}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now}); err != nil {
		res := ValidationFailure
		var (
			inv x509.CertificateInvalidError
			ua  x509.UnknownAuthorityError
		)
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			res = CertificateExpired
		case errors.As(err, &ua):
			res = CertificateNotTrusted
		}
		return &Error{Result: res, Host: host, Detail: fmt.Sprintf("certificate of subject %q", leaf.Subject.String()), Err: err}
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return &Error{Result: CertificateHostMismatch, Host: host, Detail: fmt.Sprintf("certificate names %q", leaf.DNSNames), Err: err}
	}
	return nil
}
