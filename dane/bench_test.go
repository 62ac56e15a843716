package dane

import "testing"

// BenchmarkVerify: the DANE check of one handshake's chain, as
// VerifyConnection runs it.
func BenchmarkVerify(b *testing.B) {
	k := newPKI(b)
	for _, bc := range []struct {
		name string
		r    Record
	}{
		{"DANE-EE 3 1 1", rec(b, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)},
		{"DANE-TA 2 0 1", rec(b, UsageDANETA, SelectorCert, MatchSHA256, k.inter)},
		{"DANE-TA 2 1 0 TA not sent", rec(b, UsageDANETA, SelectorSPKI, MatchFull, k.root)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := &Policy{Host: "mx.example.com", Records: []Record{bc.r}}
			certs := chain(k.leaf, k.inter)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.VerifyCertificates(certs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
