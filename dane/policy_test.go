package dane

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute/internal/testpki"
)

func TestVerify(t *testing.T) {
	k := newPKI(t)
	other := newPKI(t) // an unrelated hierarchy
	const host = "mx.example.com"
	leafChain := chain(k.leaf, k.inter, k.root)
	// End-entity certificates the root's key signed, each signing a leaf
	// for the MX name: a version 1 one (no basic constraints, as `openssl
	// x509 -req` makes without extensions) and a version 3 one.
	eeV1 := k.root.IssueV1(t, testpki.Template{CommonName: "ee.example.org"})
	eeV1Leaf := eeV1.Issue(t, testpki.Template{CommonName: host, DNSNames: []string{host}})
	eeV3 := k.root.Issue(t, testpki.Template{CommonName: "ee3.example.org", DNSNames: []string{"ee3.example.org"}})
	eeV3Leaf := eeV3.Issue(t, testpki.Template{CommonName: host, DNSNames: []string{host}})
	rootLeaf := k.root.Issue(t, testpki.Template{CommonName: host, DNSNames: []string{host}})
	// A sub-CA constrained to other.example, one excluding example.com,
	// and leaves they signed with a CN and no DNS SAN (or a SAN elsewhere).
	croot := testpki.NewRoot(t, "Constrained Root")
	csub := croot.Issue(t, testpki.Template{CommonName: "Other Example CA", CA: true, PermittedDNSDomains: []string{"other.example"}})
	xsub := croot.Issue(t, testpki.Template{CommonName: "Not Example CA", CA: true, ExcludedDNSDomains: []string{"example.com"}})
	cnOut := csub.Issue(t, testpki.Template{CommonName: host})
	cnWildOut := csub.Issue(t, testpki.Template{CommonName: "*.example.com"})
	cnIn := csub.Issue(t, testpki.Template{CommonName: "mx.other.example"})
	sanElsewhere := csub.Issue(t, testpki.Template{CommonName: host, DNSNames: []string{"mx.other.example"}})
	cnExcluded := xsub.Issue(t, testpki.Template{CommonName: host})
	tests := []struct {
		name    string
		reason  string
		host    string // MX host; "" = host
		base    string // TLSA base domain
		records []Record
		certs   []*x509.Certificate
		want    Result // "" = passes
	}{
		{"3 1 1 match", "DANE-EE SPKI SHA2-256 of the leaf (RFC 7672, Section 3.1.1)", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)}, leafChain, ""},
		{"3 1 1 other key", "a DANE-EE record of another key does not match", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.otherLeaf)}, leafChain, CertificateNotTrusted},
		{"3 0 1 match", "DANE-EE full certificate SHA2-256", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorCert, MatchSHA256, k.leaf)}, leafChain, ""},
		{"3 0 1 other cert same key?", "DANE-EE 3 0 1 of another certificate", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorCert, MatchSHA256, k.expiredLeaf)}, leafChain, CertificateNotTrusted},
		{"3 1 2 match", "DANE-EE SPKI SHA2-512", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA512, k.leaf)}, leafChain, ""},
		{"3 1 2 other", "DANE-EE SPKI SHA2-512 of another key", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA512, other.leaf)}, leafChain, CertificateNotTrusted},
		{"3 0 0 match", "DANE-EE full certificate, no digest", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorCert, MatchFull, k.leaf)}, leafChain, ""},
		{"3 1 1 expired leaf", "DANE-EE ignores the validity period (RFC 7672, Section 3.1.1)", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.expiredLeaf)}, chain(k.expiredLeaf), ""},
		{"3 1 1 wrong name", "DANE-EE ignores names (RFC 7672, Section 3.1.1)", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.otherLeaf)}, chain(k.otherLeaf), ""},
		{"3 1 1 matches intermediate only", "DANE-EE matches the leaf only, not another certificate of the chain", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.inter)}, leafChain, CertificateNotTrusted},
		{"2 0 1 intermediate", "DANE-TA on the intermediate, right name (RFC 7672, Section 3.1.2)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, leafChain, ""},
		{"2 0 1 root", "DANE-TA on the root, sent in the chain", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.root)}, leafChain, ""},
		{"2 1 1 intermediate", "DANE-TA SPKI digest of the intermediate", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchSHA256, k.inter)}, leafChain, ""},
		{"2 0 1 root not sent", "the TA certificate must be in the chain for a digest record", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.root)}, chain(k.leaf, k.inter), CertificateNotTrusted},
		{"2 1 0 root key not sent", "a full-key DANE-TA record stands for a TA the server does not send (RFC 7672, Section 3.1.2)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchFull, k.root)}, chain(k.leaf, k.inter), ""},
		{"2 1 0 root key, leaf signed by it", "a bare TA key that signed the leaf itself: a chain of one under the key", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchFull, k.root)}, chain(rootLeaf), ""},
		{"2 1 0 root key, root sent", "a full-key record matching the TA certificate sent: that certificate is the anchor", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchFull, k.root)}, leafChain, ""},
		{"2 1 0 key signed a v1 end-entity", "the certificate a bare TA key signed is an intermediate, which must be a CA (RFC 5280, Section 4.2.1.9), not a root that may sign anything", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchFull, k.root)}, chain(eeV1Leaf, eeV1), CertificateNotTrusted},
		{"2 1 0 key signed a v3 end-entity", "an end-entity certificate the TA issued signs no leaf", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchFull, k.root)}, chain(eeV3Leaf, eeV3), CertificateNotTrusted},
		{"2 0 0 root not sent", "a full-certificate DANE-TA record stands for a TA the server does not send (RFC 7671, Section 5.2.2)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchFull, k.root)}, chain(k.leaf, k.inter), ""},
		{"2 0 0 another root not sent", "a full certificate that signed nothing in the chain", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchFull, other.root)}, chain(k.leaf, k.inter), CertificateNotTrusted},
		{"2 0 0 not a certificate", "full data that is no certificate matches nothing", "", "",
			[]Record{{Usage: 2, Selector: 0, MatchingType: 0, Data: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}}, chain(k.leaf, k.inter), CertificateNotTrusted},
		{"2 1 0 key of another root", "a full key that signed nothing in the chain", "", "",
			[]Record{rec(t, UsageDANETA, SelectorSPKI, MatchFull, other.root)}, chain(k.leaf, k.inter), CertificateNotTrusted},
		{"2 0 1 on the leaf", "a DANE-TA record may name the leaf itself: a chain of one, names and expiry checked", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.leaf)}, chain(k.leaf), ""},
		{"2 0 1 on the leaf, expired", "a leaf as its own trust anchor still expires", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.expiredLeaf)}, chain(k.expiredLeaf), CertificateExpired},
		{"2 0 1 on the leaf, wrong name", "a leaf as its own trust anchor still needs the name", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.otherLeaf)}, chain(k.otherLeaf), CertificateHostMismatch},
		{"2 0 1 wrong name", "DANE-TA checks names (RFC 7672, Section 3.2.2)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(k.otherLeaf, k.inter), CertificateHostMismatch},
		{"2 0 1 base domain name", "the TLSA base domain is a reference identifier", "alias.example.org", "mx.example.com",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, leafChain, ""},
		{"2 0 1 MX name", "the MX host name is a reference identifier too", "mx.example.com", "mx.cname-target.example.net",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, leafChain, ""},
		{"2 0 1 wildcard", "a *.example.com SAN matches mx.example.com (RFC 6125, Section 6.4.3)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(k.wildLeaf, k.inter), ""},
		{"2 0 1 wildcard two labels", "a *.example.com SAN does not match a.mx.example.com", "a.mx.example.com", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(k.wildLeaf, k.inter), CertificateHostMismatch},
		{"2 0 1 CN fallback", "no DNS SAN: the subject CN is the name (RFC 6125, Section 6.4.4)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(k.cnLeaf, k.inter), ""},
		{"2 0 1 CN outside the TA's constraints", "crypto/x509 constrains SANs only: a CN-only leaf must lie within the TA's name constraints too (RFC 5280, Section 4.2.1.10)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, csub)}, chain(cnOut, csub), CertificateNotTrusted},
		{"2 0 1 CN outside a sub-CA's constraints", "the constraints of every CA between the leaf and the anchor apply to the CN", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, croot)}, chain(cnOut, csub, croot), CertificateNotTrusted},
		{"2 0 1 wildcard CN outside constraints", "a wildcard CN certifies a name outside the constraints: refused", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, csub)}, chain(cnWildOut, csub), CertificateNotTrusted},
		{"2 0 1 CN in excluded subtree", "an excluded subtree holds the CN's name: refused", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, xsub)}, chain(cnExcluded, xsub), CertificateNotTrusted},
		{"2 0 1 CN within constraints", "a CN-only leaf inside the constraints passes", "mx.other.example", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, csub)}, chain(cnIn, csub), ""},
		{"2 0 1 SAN elsewhere, CN the host", "with a DNS SAN the CN is not looked at (RFC 7672, Section 3.2.3)", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, csub)}, chain(sanElsewhere, csub), CertificateHostMismatch},
		{"2 0 1 case and dot", "names compare case-insensitively, trailing dot ignored", "MX.Example.COM.", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, leafChain, ""},
		{"2 0 1 expired leaf", "DANE-TA checks validity periods", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(k.expiredLeaf, k.inter), CertificateExpired},
		{"2 0 1 foreign leaf", "a chain whose leaf the TA did not sign does not verify", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(other.leaf, k.inter), CertificateNotTrusted},
		{"only PKIX", "PKIX-TA/EE are unusable: ModeEncrypt, any certificate (RFC 7672, Sections 2.2 and 3.1.3)", "", "",
			[]Record{rec(t, UsagePKIXEE, SelectorSPKI, MatchSHA256, other.leaf), rec(t, UsagePKIXTA, SelectorCert, MatchSHA256, other.root)}, leafChain, ""},
		{"PKIX matching ignored", "a PKIX-EE record that matches does not authenticate next to a usable one that does not", "", "",
			[]Record{rec(t, UsagePKIXEE, SelectorSPKI, MatchSHA256, k.leaf), rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, other.leaf)}, leafChain, CertificateNotTrusted},
		{"one of several", "any usable record that passes suffices", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, other.leaf), {Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2}}, rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, leafChain, ""},
		{"no certificate", "a DANE host that sends no certificate fails", "", "",
			[]Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)}, nil, ValidationFailure},
		{"mismatch beats not trusted", "the most telling DANE-TA failure is reported", "", "",
			[]Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, other.inter), rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, chain(k.otherLeaf, k.inter), CertificateHostMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host
			if h == "" {
				h = host
			}
			p := &Policy{Host: h, BaseDomain: tc.base, Records: tc.records}
			err := p.VerifyCertificates(tc.certs)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%s: %v", tc.reason, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: got %v, want %s", tc.reason, err, tc.want)
			}
			var de *Error
			if !errors.As(err, &de) || de.Host == "" {
				t.Fatalf("%s: %v is not an *Error with a host", tc.reason, err)
			}
		})
	}
}

// TestVerifyNames: Names (the next-hop domain) are reference identifiers
// for DANE-TA(2) beside the base domain and the MX host; DANE-EE(3) looks
// at no name.
func TestVerifyNames(t *testing.T) {
	k := newPKI(t)
	nextHop := k.inter.Issue(t, testpki.Template{DNSNames: []string{"example.com"}})
	ta := []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}
	p := &Policy{Host: "mx.example.net", BaseDomain: "mx.example.net", Records: ta}
	if err := p.VerifyCertificates(chain(nextHop, k.inter)); !errors.Is(err, CertificateHostMismatch) {
		t.Fatalf("without Names the next-hop domain is no reference identifier: %v", err)
	}
	p.Names = []string{"Example.COM."}
	if err := p.VerifyCertificates(chain(nextHop, k.inter)); err != nil {
		t.Fatalf("with the next-hop domain in Names (any case, trailing dot): %v", err)
	}
}

// TestWithinDomain: a dNSName constraint holds the name itself and the names
// below it (RFC 5280, Section 4.2.1.10); with a leading dot only those
// below, as crypto/x509 reads it.
func TestWithinDomain(t *testing.T) {
	tests := []struct {
		name, constraint string
		want             bool
		reason           string
	}{
		{"example.com", "example.com", true, "the domain itself"},
		{"mx.example.com", "example.com", true, "a name below it"},
		{"a.b.example.com", "example.com", true, "any number of labels added on the left"},
		{"badexample.com", "example.com", false, "a label boundary, not a suffix of characters"},
		{"example.com.org", "example.com", false, "a different domain"},
		{"MX.Example.COM.", "example.com", true, "case and a trailing dot do not matter"},
		{"mx.example.com", ".example.com", true, "leading dot: a name below"},
		{"example.com", ".example.com", false, "leading dot: not the domain itself"},
		{"anything.test", "", true, "an empty constraint holds every name"},
	}
	for _, tc := range tests {
		if got := withinDomain(tc.name, tc.constraint); got != tc.want {
			t.Errorf("%s: withinDomain(%q, %q) = %v", tc.reason, tc.name, tc.constraint, got)
		}
	}
}

func TestVerifyNow(t *testing.T) {
	k := newPKI(t)
	p := &Policy{Host: "mx.example.com", Records: []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}}
	if err := p.VerifyCertificates(chain(k.leaf, k.inter)); err != nil {
		t.Fatal(err)
	}
	p.Now = func() time.Time { return time.Now().Add(72 * time.Hour) }
	if err := p.VerifyCertificates(chain(k.leaf, k.inter)); !errors.Is(err, CertificateExpired) {
		t.Fatalf("three days later the chain has expired: got %v", err)
	}
	var inv x509.CertificateInvalidError
	if err := p.VerifyCertificates(chain(k.leaf, k.inter)); !errors.As(err, &inv) {
		t.Fatalf("the crypto/x509 cause is reachable: %v", err)
	}
}

func TestUsable(t *testing.T) {
	d32, d64 := make([]byte, 32), make([]byte, 64)
	tests := []struct {
		r      Record
		ok     bool
		reason string
	}{
		{Record{3, 1, 1, d32}, true, "DANE-EE SPKI SHA2-256"},
		{Record{2, 0, 2, d64}, true, "DANE-TA Cert SHA2-512"},
		{Record{3, 0, 0, []byte{0x30}}, true, "full data of any length is usable; it simply will not match"},
		{Record{0, 0, 1, d32}, false, "PKIX-TA is unusable for SMTP (RFC 7672, Section 3.1.3)"},
		{Record{1, 1, 1, d32}, false, "PKIX-EE is unusable for SMTP (RFC 7672, Section 3.1.3)"},
		{Record{4, 1, 1, d32}, false, "unknown usage"},
		{Record{3, 2, 1, d32}, false, "unknown selector"},
		{Record{3, 1, 3, d32}, false, "unknown matching type"},
		{Record{3, 1, 1, d64}, false, "SHA2-256 with 64 bytes"},
		{Record{3, 1, 2, d32}, false, "SHA2-512 with 32 bytes"},
		{Record{3, 1, 0, nil}, false, "full with no data"},
	}
	for _, tc := range tests {
		ok, why := tc.r.Usable()
		if ok != tc.ok {
			t.Errorf("%s: %s: Usable = %v (%s)", tc.reason, tc.r, ok, why)
		}
		if !ok && why == "" {
			t.Errorf("%s: no reason given", tc.reason)
		}
	}
}

func TestNewPolicyMode(t *testing.T) {
	k := newPKI(t)
	ee := rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)
	tlsa := func(u, s, m uint8, data string) *dns.TLSA {
		return &dns.TLSA{Hdr: dns.RR_Header{Name: "_25._tcp.mx.example.com.", Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 300},
			Usage: u, Selector: s, MatchingType: m, Certificate: data}
	}
	tests := []struct {
		name   string
		rrs    []dns.RR
		mode   Mode
		unused int
		reason string
	}{
		{"empty", nil, ModeNone, 0, "no TLSA records: no DANE (RFC 7672, Section 2.2)"},
		{"usable", []dns.RR{tlsa(3, 1, 1, hex.EncodeToString(ee.Data))}, ModeDANE, 0, "a usable record makes DANE mandatory"},
		{"only unusable", []dns.RR{tlsa(1, 1, 1, hex.EncodeToString(ee.Data)), tlsa(3, 1, 1, "abcd")}, ModeEncrypt, 2,
			"only unusable records: TLS mandatory, not authenticated (RFC 7672, Section 2.2)"},
		{"mixed", []dns.RR{tlsa(0, 0, 1, hex.EncodeToString(ee.Data)), tlsa(3, 1, 1, hex.EncodeToString(ee.Data))}, ModeDANE, 1,
			"usable next to unusable: DANE, the unusable one reported"},
		{"not hex", []dns.RR{tlsa(3, 1, 1, "zz")}, ModeEncrypt, 1, "data that is not hex is an unusable record"},
		{"other types", []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET}}}, ModeNone, 0, "only TLSA records are taken"},
	}
	for _, tc := range tests {
		p := NewPolicy("mx.example.com.", "", tc.rrs)
		if got := p.Mode(); got != tc.mode {
			t.Errorf("%s: %s: mode %s, want %s", tc.name, tc.reason, got, tc.mode)
		}
		if got := p.Unusable(); len(got) != tc.unused {
			t.Errorf("%s: %s: unusable %q, want %d", tc.name, tc.reason, got, tc.unused)
		}
		if p.ServerName() != "mx.example.com" {
			t.Errorf("%s: ServerName %q", tc.name, p.ServerName())
		}
	}
	var nilPolicy *Policy
	if nilPolicy.Mode() != ModeNone {
		t.Error("a nil policy is no DANE")
	}
}

func TestRecordString(t *testing.T) {
	r := Record{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{0xAB, 0x01}}
	if got := r.String(); got != "3 1 1 ab01" {
		t.Errorf("String() = %q", got)
	}
	if _, err := FromTLSA(&dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: "xyz"}); err == nil || !strings.Contains(err.Error(), `"xyz"`) {
		t.Errorf("bad hex: error %v should quote the input", err)
	}
}
