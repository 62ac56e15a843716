package mxroute

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
)

// TLSMode is what a mail host requires of STARTTLS, as the route found it.
type TLSMode int

const (
	// TLSOpportunistic (the zero value): no policy applies. STARTTLS when
	// the server offers it, any certificate; cleartext otherwise (RFC 7672,
	// Section 2.2 for a host without secure TLSA records; RFC 8461 for a
	// domain without a policy or in mode none).
	TLSOpportunistic TLSMode = iota
	// TLSMTASTSTesting: the domain's MTA-STS policy is in mode testing.
	// TLS is not required; a certificate failure is to be reported
	// ([TLSPolicy.Verify]), never a reason not to deliver (RFC 8461,
	// Section 5).
	TLSMTASTSTesting
	// TLSMTASTS: the domain's MTA-STS policy is in mode enforce and the
	// host matches it: TLS is required, with a certificate that chains to
	// a trusted root, is unexpired and names the MX host (RFC 8461,
	// Sections 4.2 and 5). A host that fails it is skipped.
	TLSMTASTS
	// TLSDANE: the host has a secure TLSA RRset (RFC 7672, Section 2.2):
	// TLS is required, authenticated by its usable records (or, when all
	// are unusable, dane.ModeEncrypt: encrypted, not authenticated). A
	// host that fails it is skipped. DANE with usable records takes
	// precedence over MTA-STS (RFC 8461, Section 2); an enforced policy
	// wins over dane.ModeEncrypt.
	TLSDANE
)

var tlsModeNames = [...]string{TLSOpportunistic: "opportunistic", TLSMTASTSTesting: "mta-sts-testing",
	TLSMTASTS: "mta-sts", TLSDANE: "dane"}

// String returns the mode's short name, e.g. "dane".
func (m TLSMode) String() string {
	if m >= 0 && int(m) < len(tlsModeNames) {
		return tlsModeNames[m]
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// A TLSPolicy is what STARTTLS to one mail host must verify. Route sets one
// on every Host (and Target, and the Dialer's Conn) when the Router has
// MTASTS or DANE; without either it is nil, and a nil *TLSPolicy is
// opportunistic (its methods work on nil).
type TLSPolicy struct {
	Mode TLSMode
	// Host is the MX host name as published: SNI and the name an MTA-STS
	// certificate must carry (RFC 8461, Section 4.2).
	Host string
	// MTASTS is the domain's policy, for TLSMTASTS and TLSMTASTSTesting;
	// nil otherwise. Its ID is the id of the TXT record it was fetched
	// under, for reports.
	MTASTS *mtasts.Policy
	// DANE is the host's TLSA RRset with its base domain and reference
	// names, for TLSDANE; nil otherwise.
	DANE *dane.Policy
	// Roots verify MTA-STS certificates (Router.RootCAs). nil: the
	// system's roots.
	Roots *x509.CertPool
	// MTASTSFailure is why the recipient domain's MTA-STS policy could not
	// be had, with no cached policy to stand in (mtasts.StatusFailed): an
	// *mtasts.Error whose Result is an RFC 8460 policy failure
	// (sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid).
	// The host is then used as without MTA-STS (RFC 8461, Section 3.3);
	// the failure is for a TLSRPT report (Dialer.TLSReports counts the
	// sessions under it). nil: a policy applies, the domain has none, or
	// its TXT record is unusable (no policy to report on).
	MTASTSFailure error
}

// Required reports whether the host must not be used without TLS that
// passes the policy: TLSMTASTS and TLSDANE.
func (p *TLSPolicy) Required() bool {
	return p != nil && (p.Mode == TLSMTASTS || p.Mode == TLSDANE)
}

// TLSConfig gives a new *tls.Config for STARTTLS to the host. For TLSDANE it
// is dane.Policy.TLSConfig (SNI the TLSA base domain, VerifyConnection the
// DANE check of RFC 7672, Section 3); for TLSMTASTS it is mtasts.TLSConfig
// (SNI the MX host, VerifyConnection the WebPKI check of RFC 8461, Section
// 4.2, against Roots). For TLSMTASTSTesting and TLSOpportunistic any
// certificate is accepted (InsecureSkipVerify; SNI the MX host): the
// handshake only encrypts, and Verify says what an MTA-STS check would have
// said. A nil policy knows no host, so its config has no ServerName:
// Dialer.StartTLS sends the MX host (Target.Host) as SNI then. A failed check fails the handshake with the package's error, whose
// Result is the RFC 8460 type (errors.Is(err, dane.CertificateNotTrusted)).
func (p *TLSPolicy) TLSConfig() *tls.Config {
	switch {
	case p == nil:
		return &tls.Config{InsecureSkipVerify: true}
	case p.Mode == TLSDANE && p.DANE != nil:
		c := p.DANE.TLSConfig()
		c.MinVersion = tls.VersionTLS12 // RFC 7672, Section 8.2 and RFC 8996
		return c
	case p.Mode == TLSDANE:
		// Required, yet no records to check against: no certificate can
		// pass, so the handshake fails rather than encrypting unverified.
		return &tls.Config{ServerName: p.Host, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error { return p.Verify(cs) }}
	case p.Mode == TLSMTASTS:
		return mtasts.TLSConfig(p.Host, p.Roots)
	}
	return &tls.Config{ServerName: p.Host, InsecureSkipVerify: true}
}

// errNoTLSA fails a TLSDANE policy built without its TLSA records (the
// Router never builds one): RFC 7672, Section 2.2 makes authenticated TLS
// mandatory, and nothing can authenticate the server.
func (p *TLSPolicy) errNoTLSA() error {
	return &dane.Error{Result: dane.DANERequired, Host: p.Host, Detail: "a DANE policy without TLSA records: no certificate can pass"}
}

// Verify checks a finished handshake against the policy and says why it
// fails (nil: it passes): the DANE check for TLSDANE, the MTA-STS check for
// TLSMTASTS and TLSMTASTSTesting (the report a testing-mode sender makes,
// RFC 8461, Section 5), nothing for TLSOpportunistic.
func (p *TLSPolicy) Verify(cs tls.ConnectionState) error {
	switch {
	case p == nil:
		return nil
	case p.Mode == TLSDANE && p.DANE != nil:
		return p.DANE.Verify(cs)
	case p.Mode == TLSDANE:
		return p.errNoTLSA()
	case p.Mode == TLSMTASTS || p.Mode == TLSMTASTSTesting:
		return mtasts.VerifyMX(cs.PeerCertificates, p.Host, p.Roots, time.Time{})
	}
	return nil
}

// String describes the policy in a few words, e.g.
// `dane: 1 TLSA record(s) at _25._tcp.mx.example.com` or
// `mta-sts: policy id 20240101 (enforce)`.
func (p *TLSPolicy) String() string {
	switch {
	case p == nil:
		return TLSOpportunistic.String()
	case p.Mode == TLSDANE && p.DANE != nil:
		s := fmt.Sprintf("dane: %d TLSA record(s) at _25._tcp.%s", len(p.DANE.Records), p.DANE.ServerName())
		if p.DANE.Mode() == dane.ModeEncrypt {
			s += " (none usable: encryption only)"
		}
		return s
	case (p.Mode == TLSMTASTS || p.Mode == TLSMTASTSTesting) && p.MTASTS != nil:
		return fmt.Sprintf("%s: policy id %s (%s)", p.Mode, p.MTASTS.ID, p.MTASTS.Mode)
	}
	return p.Mode.String()
}

// canonical is the host's name after the CNAMEs of its address lookups
// (the name the records belong to), lower case, no trailing dot; its own
// name without CNAMEs or lookups.
func (h *mxHost) canonical() string {
	for _, ar := range [2]*addrResult{&h.v6, &h.v4} {
		if ar.looked && ar.err == nil && len(ar.ans.chain) > 0 {
			return strings.TrimSuffix(ar.ans.name, ".")
		}
	}
	return h.name
}

// tlsPolicy is the policy Route publishes for h: nil when the Router has
// neither MTASTS nor DANE.
func (h *mxHost) tlsPolicy() *TLSPolicy {
	if h.tls == nil {
		return nil
	}
	return h.tls.policy
}
