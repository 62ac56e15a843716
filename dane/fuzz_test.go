package dane

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fuzzChain is testdata/chain.pem: leaf mx.example.com, intermediate, root,
// valid from 2000 to 2099, so committed seeds keep matching.
func fuzzChain(t testing.TB) []*x509.Certificate {
	b, err := os.ReadFile("testdata/chain.pem")
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) != 3 {
		t.Fatalf("testdata/chain.pem has %d certificates, want 3", len(out))
	}
	return out
}

// FuzzTLSA feeds TLSA records in presentation format (one per line, as after
// "IN TLSA") through miekg/dns, NewPolicy and VerifyCertificates against a
// fixed chain, sent whole and as the leaf alone. Invariants: no panic; a
// policy that is not ModeDANE accepts anything; a pass is explained by a
// usable record (DANE-EE matching the leaf, or DANE-TA with the leaf for
// mx.example.com); a failure is an *Error with one of the package's results.
func FuzzTLSA(f *testing.F) {
	certs := fuzzChain(f)
	for _, s := range []string{
		"3 1 1 " + hexRec(f, 3, 1, 1, certs[0]),
		"3 0 1 " + hexRec(f, 3, 0, 1, certs[0]),
		"3 1 2 " + hexRec(f, 3, 1, 2, certs[0]),
		"2 0 1 " + hexRec(f, 2, 0, 1, certs[1]),
		"2 1 0 " + hexRec(f, 2, 1, 0, certs[2]),
		"1 1 1 " + hexRec(f, 1, 1, 1, certs[0]),
		"3 1 1 00",
		"2 0 1 " + hexRec(f, 2, 0, 1, certs[0]) + "\n3 1 1 " + hexRec(f, 3, 1, 1, certs[1]),
	} {
		f.Add(s)
	}
	now := func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, s string) {
		var rrs []dns.RR
		for _, line := range splitLines(s) {
			rr, err := dns.NewRR("_25._tcp.mx.example.com. 300 IN TLSA " + line)
			if err == nil && rr != nil {
				rrs = append(rrs, rr)
			}
		}
		p := NewPolicy("mx.example.com", "", rrs)
		p.Now = now
		_ = p.Unusable()
		for _, chain := range [][]*x509.Certificate{certs, certs[:1]} {
			err := p.VerifyCertificates(chain)
			if p.Mode() != ModeDANE {
				if err != nil {
					t.Fatalf("mode %s rejected: %v", p.Mode(), err)
				}
				continue
			}
			if err == nil {
				explained := false
				for _, r := range p.Records {
					if ok, _ := r.Usable(); !ok {
						continue
					}
					switch r.Usage {
					case UsageDANEEE:
						explained = explained || r.Matches(chain[0])
					case UsageDANETA:
						explained = true // verified by crypto/x509 with a leaf that names mx.example.com
					}
				}
				if !explained {
					t.Fatalf("passed with no usable record that explains it: %q", s)
				}
				continue
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not an *Error", err)
			}
			switch de.Result {
			case CertificateNotTrusted, CertificateExpired, CertificateHostMismatch, ValidationFailure:
			default:
				t.Fatalf("unexpected result %s", de.Result)
			}
		}
	})
}

func hexRec(t testing.TB, u Usage, s Selector, m MatchingType, c *x509.Certificate) string {
	r, err := NewRecord(u, s, m, c)
	if err != nil {
		t.Fatal(err)
	}
	return r.String()[6:]
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
