package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// IssueV1 makes a version 1 certificate signed by c: no extensions at all,
// so no basic constraints and no subjectAltName, only the subject CN. That
// is what `openssl x509 -req` without an extensions file still makes, and
// what many private CAs issued to servers. crypto/x509 writes version 3
// only, so the TBSCertificate (RFC 5280, Section 4.1) is marshalled here
// and signed with ecdsa-with-SHA256. tmpl.CA and tmpl.DNSNames must be
// unset: a version 1 certificate has no place for them.
func (c *Cert) IssueV1(t testing.TB, tmpl Template) *Cert {
	t.Helper()
	if tmpl.CA || len(tmpl.DNSNames) > 0 || len(tmpl.PermittedDNSDomains)+len(tmpl.ExcludedDNSDomains) > 0 {
		t.Fatal("testpki: a version 1 certificate has no extensions")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(24 * time.Hour)
	}
	subject, err := asn1.Marshal(pkix.Name{CommonName: tmpl.CommonName}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecdsaSHA256 := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}
	tbs, err := asn1.Marshal(struct { // version absent: v1 (RFC 5280, Section 4.1.2.1)
		Serial    *big.Int
		Signature pkix.AlgorithmIdentifier
		Issuer    asn1.RawValue
		Validity  struct{ NotBefore, NotAfter time.Time }
		Subject   asn1.RawValue
		PublicKey asn1.RawValue
	}{serial, ecdsaSHA256, asn1.RawValue{FullBytes: c.Cert.RawSubject},
		struct{ NotBefore, NotAfter time.Time }{tmpl.NotBefore.UTC(), tmpl.NotAfter.UTC()},
		asn1.RawValue{FullBytes: subject}, asn1.RawValue{FullBytes: spki}})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, ecdsaSHA256, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Version != 1 || cert.CheckSignatureFrom(c.Cert) != nil {
		t.Fatalf("testpki: version 1 certificate: version %d, signature %v", cert.Version, cert.CheckSignatureFrom(c.Cert))
	}
	return &Cert{Cert: cert, Key: key}
}
