package dane

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Mode is what a TLSA RRset asks of the SMTP client (RFC 7672, Section 2.2).
type Mode int

const (
	// ModeNone: no TLSA records (an authenticated denial, or an insecure
	// answer): pre-DANE opportunistic TLS, cleartext if the server offers no
	// STARTTLS.
	ModeNone Mode = iota
	// ModeEncrypt: a secure RRset whose records are all unusable: TLS is
	// mandatory, authentication is not; a server without STARTTLS is skipped.
	ModeEncrypt
	// ModeDANE: a secure RRset with a usable record: TLS authenticated by
	// the records is mandatory; a server that fails it is skipped.
	ModeDANE
)

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeEncrypt:
		return "encrypt"
	case ModeDANE:
		return "dane"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Policy is the DANE policy of one mail host: its TLSA records and the names
// the certificate is checked against. Build it with [NewPolicy] or fill it in;
// it must not change while a handshake uses it. The zero value has no
// records: ModeNone.
type Policy struct {
	// Host is the MX host name as the MX record gives it, a reference
	// identifier for DANE-TA(2) (RFC 7672, Section 3.2.2).
	Host string
	// BaseDomain is the TLSA base domain: the name _25._tcp. was prefixed to,
	// the CNAME-expanded host name when that expansion was secure (RFC 7672,
	// Section 2.2.2). It is sent as SNI and is a reference identifier.
	// Empty: Host.
	BaseDomain string
	// Names are further reference identifiers for DANE-TA(2): the next-hop
	// domain, as given and after CNAMEs, when the MX RRset is secure (RFC
	// 7672, Section 3.2.2), as mxroute's Router sets them. Empty: none.
	Names []string
	// Records is the TLSA RRset, usable records and unusable ones.
	Records []Record
	// Now gives the time validity periods are checked against. Nil: time.Now.
	Now func() time.Time
}

// NewPolicy builds the policy of host from the TLSA RRset found at
// _25._tcp.<base> (rrs may hold other types: only *dns.TLSA is taken). The
// caller vouches that the RRset is DNSSEC-secure; an insecure RRset must not
// be given (RFC 7672, Section 2.2: it means no DANE). A record whose data is
// not hex is kept as an unusable record without data.
func NewPolicy(host, base string, rrs []dns.RR) *Policy {
	p := &Policy{Host: host, BaseDomain: base}
	for _, rr := range rrs {
		t, ok := rr.(*dns.TLSA)
		if !ok {
			continue
		}
		r, err := FromTLSA(t)
		if err != nil {
			r = Record{Usage: Usage(t.Usage), Selector: Selector(t.Selector), MatchingType: MatchingType(t.MatchingType)}
		}
		p.Records = append(p.Records, r)
	}
	return p
}

// Mode says what the RRset asks for: ModeDANE with any usable record,
// ModeEncrypt with records that are all unusable, ModeNone without records.
func (p *Policy) Mode() Mode {
	if p == nil || len(p.Records) == 0 {
		return ModeNone
	}
	for _, r := range p.Records {
		if ok, _ := r.Usable(); ok {
			return ModeDANE
		}
	}
	return ModeEncrypt
}

// Unusable lists the records an SMTP client cannot use, with why, for a
// report (RFC 8460's tlsa-invalid); verification ignores them.
func (p *Policy) Unusable() []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, r := range p.Records {
		if ok, why := r.Usable(); !ok {
			out = append(out, r.String()+": "+why)
		}
	}
	return out
}

// ServerName is the name sent as SNI: the TLSA base domain (RFC 7672,
// Section 8.1), lower case, without a trailing dot.
func (p *Policy) ServerName() string {
	if p.BaseDomain != "" {
		return normName(p.BaseDomain)
	}
	return normName(p.Host)
}

// referenceIDs are the names a DANE-TA(2) chain's leaf must carry (RFC 7672,
// Section 3.2.2): the TLSA base domain, the MX host name, any extra Names.
func (p *Policy) referenceIDs() []string {
	ids := make([]string, 0, 2+len(p.Names))
	for _, n := range append([]string{p.BaseDomain, p.Host}, p.Names...) {
		if n = normName(n); n != "" && !slices.Contains(ids, n) {
			ids = append(ids, n)
		}
	}
	return ids
}

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }

func (p *Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// TLSConfig gives a new *tls.Config for STARTTLS to this host: ServerName is
// the TLSA base domain (SNI), certificate verification by crypto/tls is off
// (InsecureSkipVerify) and, in ModeDANE, VerifyConnection runs [Policy.Verify]
// so the handshake fails unless the records authenticate the server. In
// ModeEncrypt and ModeNone any certificate is accepted (RFC 7672, Section 2.2:
// authentication is not required); whether TLS itself is required is
// [Policy.Mode]'s to say. The caller may set further fields (MinVersion,
// client certificates) on the copy it gets.
func (p *Policy) TLSConfig() *tls.Config {
	c := &tls.Config{ServerName: p.ServerName(), InsecureSkipVerify: true}
	if p.Mode() == ModeDANE {
		c.VerifyConnection = p.Verify
	}
	return c
}

// Verify checks a finished handshake's certificates against the policy; it
// is nil when they authenticate the server, else an [*Error] with the RFC
// 8460 result type. In ModeEncrypt and ModeNone every certificate passes.
func (p *Policy) Verify(state tls.ConnectionState) error {
	return p.VerifyCertificates(state.PeerCertificates)
}

// VerifyCertificates is Verify for a certificate chain as the server sent
// it, leaf first.
//
// A DANE-EE(3) record passes when it matches the leaf (RFC 7672, Sections
// 3.1.1 and 3.2.1: no name or validity checks). A DANE-TA(2) record passes
// when it matches a certificate of the chain (or is, as "2 0 0" or "2 1 0",
// the TA certificate or key itself, sent or not: RFC 7671, Sections 5.2.2
// and 5.2.3), the chain from the leaf verifies to it with crypto/x509
// (validity periods included), and the leaf carries a reference identifier
// (RFC 7672, Sections 3.1.2, 3.2.2 and 3.2.3), by CN only within the chain's
// name constraints (RFC 5280, Section 4.2.1.10). Any passing record suffices.
func (p *Policy) VerifyCertificates(certs []*x509.Certificate) error {
	mode := p.Mode()
	if mode != ModeDANE {
		return nil
	}
	host := p.ServerName()
	if len(certs) == 0 || certs[0] == nil {
		return &Error{Result: ValidationFailure, Host: host, Detail: "server sent no certificate"}
	}
	for _, c := range certs {
		if c == nil {
			return &Error{Result: ValidationFailure, Host: host, Detail: "nil certificate in chain"}
		}
	}
	leaf := certs[0]
	var taErr *Error // the most telling DANE-TA failure, if no record passes
	for _, r := range p.Records {
		if ok, _ := r.Usable(); !ok {
			continue
		}
		switch r.Usage {
		case UsageDANEEE:
			if r.Matches(leaf) {
				return nil
			}
		case UsageDANETA:
			err := p.verifyTA(r, certs)
			if err == nil {
				return nil
			}
			if err != errNoMatch && (taErr == nil || rank(err.Result) > rank(taErr.Result)) {
				taErr = err
			}
		}
	}
	if taErr != nil {
		return taErr
	}
	return &Error{Result: CertificateNotTrusted, Host: host,
		Detail: fmt.Sprintf("no usable TLSA record matches the chain of %d certificate(s) (leaf subject %q)", len(certs), leaf.Subject.String())}
}

// rank orders DANE-TA failures: a chain that verified but for its names says
// more than an expired one, which says more than one that did not verify.
func rank(r Result) int {
	switch r {
	case CertificateHostMismatch:
		return 3
	case CertificateExpired:
		return 2
	}
	return 1
}

var errNoMatch = &Error{Result: CertificateNotTrusted, Detail: "no match"}

// verifyTA tries one DANE-TA(2) record: errNoMatch when it matches nothing.
func (p *Policy) verifyTA(r Record, certs []*x509.Certificate) *Error {
	host := p.ServerName()
	var anchor *x509.Certificate
	for _, c := range certs {
		if r.Matches(c) {
			anchor = c
			break
		}
	}
	if anchor == nil && r.MatchingType == MatchFull {
		switch r.Selector {
		case SelectorCert:
			// "2 0 0": the record is the TA certificate itself, which the
			// client must be able to use when the server does not send it
			// (RFC 7671, Section 5.2.2).
			if c, err := x509.ParseCertificate(r.Data); err == nil {
				anchor = c
			}
		case SelectorSPKI:
			// "2 1 0": the record is the TA's public key (RFC 7671,
			// Section 5.2.3), with no certificate to stand for it.
			anchor = keyAnchor(r.Data, certs)
		}
	}
	if anchor == nil {
		return errNoMatch
	}
	leaf := certs[0]
	chains, err := p.verifyChain(leaf, certs[1:], anchor)
	if err != nil {
		res := CertificateNotTrusted
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			res = CertificateExpired
		}
		return &Error{Result: res, Host: host, Detail: "chain does not verify to the DANE-TA(2) trust anchor " + r.String(), Err: err}
	}
	ids := p.referenceIDs()
	var outside *x509.Certificate // a CA whose name constraints exclude the CN's name
	for _, id := range ids {
		if !matchesName(leaf, id) {
			continue
		}
		if len(leaf.DNSNames) > 0 {
			return nil
		}
		ca := cnOutside(chains, id)
		if ca == nil {
			return nil
		}
		outside = ca
	}
	if outside != nil {
		return &Error{Result: CertificateNotTrusted, Host: host,
			Detail: fmt.Sprintf("subject CN %q is outside the name constraints of %q (RFC 5280, Section 4.2.1.10)", leaf.Subject.CommonName, outside.Subject.String())}
	}
	return &Error{Result: CertificateHostMismatch, Host: host,
		Detail: fmt.Sprintf("certificate names %q match none of %q", certNames(leaf), ids)}
}

// verifyChain verifies leaf with crypto/x509 to anchor as the only root,
// through the other certificates the server sent.
func (p *Policy) verifyChain(leaf *x509.Certificate, sent []*x509.Certificate, anchor *x509.Certificate) ([][]*x509.Certificate, error) {
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	inter := x509.NewCertPool()
	for _, c := range sent {
		if c != anchor {
			inter.AddCert(c)
		}
	}
	return leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   p.now(),
		// RFC 7672 asks nothing of extended key usage; a certificate
		// restricted to other purposes is still the server's.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
}

// keyAnchor stands for a bare TA key (DER SubjectPublicKeyInfo spki): a
// root holding only that key, a CA with no path length or validity limit,
// named as the issuer of the certificate of the chain spki signed (the one
// nearest the end, as a server sends its chain). That certificate is then
// verified under it as crypto/x509 verifies any other: as an intermediate,
// which must be a CA, unless it is the leaf. Taking it as the root instead
// would let an end-entity certificate the TA issued (a version 1 one, which
// crypto/x509 lets sign as a root) vouch for any leaf.
func keyAnchor(spki []byte, certs []*x509.Certificate) *x509.Certificate {
	key, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil
	}
	ta := &x509.Certificate{PublicKey: key, RawSubjectPublicKeyInfo: spki, Version: 3,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1, NotAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}
	switch key.(type) {
	case *ecdsa.PublicKey:
		ta.PublicKeyAlgorithm = x509.ECDSA
	case *rsa.PublicKey:
		ta.PublicKeyAlgorithm = x509.RSA
	case ed25519.PublicKey:
		ta.PublicKeyAlgorithm = x509.Ed25519
	default:
		return nil
	}
	for i := len(certs) - 1; i >= 0; i-- {
		if c := certs[i]; c.CheckSignatureFrom(ta) == nil {
			ta.RawSubject, ta.Subject, ta.SubjectKeyId = c.RawIssuer, c.Issuer, c.AuthorityKeyId
			return ta
		}
	}
	return nil
}

// cnOutside applies the DNS name constraints of the chains' CAs to name,
// which the leaf's subject CN gave: crypto/x509 applies them to
// subjectAltName entries only, so a CA constrained to other.example could
// otherwise certify any name by CN. RFC 5280, Section 4.2.1.10 constrains
// the subject too, and OpenSSL checks a CN used as a host name
// (NAME_CONSTRAINTS_check_CN). It returns nil when some chain's CAs (the
// anchor included, as crypto/x509 does) all permit name, else the CA of the
// last chain that does not.
func cnOutside(chains [][]*x509.Certificate, name string) *x509.Certificate {
	var out *x509.Certificate
	for _, ch := range chains {
		out = nil
		for _, ca := range ch[1:] {
			permitted := len(ca.PermittedDNSDomains) == 0 || slices.ContainsFunc(ca.PermittedDNSDomains, func(c string) bool { return withinDomain(name, c) })
			excluded := slices.ContainsFunc(ca.ExcludedDNSDomains, func(c string) bool { return withinDomain(name, c) })
			if !permitted || excluded {
				out = ca
				break
			}
		}
		if out == nil {
			return nil
		}
	}
	return out
}

// withinDomain reports whether name lies within the dNSName constraint c:
// c itself or a name below it (RFC 5280, Section 4.2.1.10: "any DNS name
// that can be constructed by simply adding zero or more labels to the
// left-hand side"); a constraint with a leading dot only the names below
// it, as crypto/x509 reads it. An empty constraint holds every name.
func withinDomain(name, c string) bool {
	name, c = normName(name), strings.ToLower(c)
	switch {
	case c == "":
		return true
	case strings.HasPrefix(c, "."):
		return strings.HasSuffix(name, c)
	}
	return name == c || strings.HasSuffix(name, "."+c)
}

// matchesName: "if the server certificate contains a Subject Alternative
// Name extension ..., with at least one DNS-ID ..., then only the DNS-IDs are
// matched" (RFC 7672, Section 3.2.3), a wildcard only as the whole leftmost
// label (crypto/x509's VerifyHostname, RFC 6125, Section 6.4.3); with no
// DNS-ID, the subject CN (which cnOutside then holds to the name constraints).
func matchesName(cert *x509.Certificate, name string) bool {
	if len(cert.DNSNames) > 0 {
		return cert.VerifyHostname(name) == nil
	}
	cn := normName(cert.Subject.CommonName)
	if cn == "" {
		return false
	}
	if cn == name {
		return true
	}
	if rest, ok := strings.CutPrefix(cn, "*."); ok {
		if label, after, ok := strings.Cut(name, "."); ok && label != "" && after == rest {
			return true
		}
	}
	return false
}

func certNames(c *x509.Certificate) []string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	return []string{"CN=" + c.Subject.CommonName}
}
