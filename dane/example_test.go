package dane_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/miekg/dns"
	"github.com/mxroute-go/mxroute/dane"
)

// A TLSA RRset whose records are all unusable for SMTP: TLS is still
// mandatory, authentication is not (RFC 7672, Section 2.2), and the records
// are worth a tlsa-invalid report.
func ExampleNewPolicy() {
	var rrs []dns.RR
	for _, s := range []string{
		"_25._tcp.mx.example.com. 300 IN TLSA 1 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1",
		"_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 abcd",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		rrs = append(rrs, rr)
	}
	p := dane.NewPolicy("mx.example.com", "", rrs)
	fmt.Println("mode:", p.Mode())
	for _, u := range p.Unusable() {
		fmt.Println("unusable:", u)
	}
	// Output:
	// mode: encrypt
	// unusable: 1 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1: certificate usage 1 (PKIX) is not used by SMTP
	// unusable: 3 1 1 abcd: SHA2-256 data of 2 bytes, not 32
}

// A DANE-TA(2) record on the intermediate CA: the chain verifies to it, but
// the leaf names mx.example.com, so for another MX host name it fails with
// the RFC 8460 result certificate-host-mismatch.
func ExamplePolicy_VerifyCertificates() {
	b, _ := os.ReadFile("testdata/chain.pem") // leaf mx.example.com, intermediate, root
	var chain []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		c, _ := x509.ParseCertificate(blk.Bytes)
		chain = append(chain, c)
	}
	ta, _ := dane.NewRecord(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, chain[1])

	for _, host := range []string{"mx.example.com", "mx.example.net"} {
		p := &dane.Policy{Host: host, Records: []dane.Record{ta}}
		err := p.VerifyCertificates(chain)
		fmt.Printf("%s: %v (mismatch: %v)\n", host, err, errors.Is(err, dane.CertificateHostMismatch))
	}
	// Output:
	// mx.example.com: <nil> (mismatch: false)
	// mx.example.net: dane: host "mx.example.net": certificate-host-mismatch: certificate names ["mx.example.com"] match none of ["mx.example.net"] (mismatch: true)
}
