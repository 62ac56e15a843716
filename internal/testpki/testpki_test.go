package testpki

import (
	"crypto/x509"
	"testing"
)

// TestKeyFrom: a seed gives the same key on every call, another seed
// another key, and a certificate made with it carries it.
func TestKeyFrom(t *testing.T) {
	a, b := KeyFrom("mx1"), KeyFrom("mx1")
	if !a.Equal(b) {
		t.Fatal("one seed, two keys")
	}
	if a.Equal(KeyFrom("mx2")) {
		t.Fatal("two seeds, one key")
	}
	c := NewRoot(t, "root").Issue(t, Template{CommonName: "mx1.example", Key: a})
	if !a.PublicKey.Equal(c.Cert.PublicKey) {
		t.Fatal("Template.Key is not the certificate's key")
	}
	if NewRoot(t, "root").Issue(t, Template{CommonName: "mx1.example"}).Key.Equal(a) {
		t.Fatal("without Template.Key, the fixed key")
	}
}

// TestIssueV1: a version 1 certificate has no extensions, so crypto/x509
// sees no basic constraints and no DNS names, only the CN; its signature
// verifies under the issuer, and it can sign a version 3 leaf.
func TestIssueV1(t *testing.T) {
	root := NewRoot(t, "v1 root")
	ee := root.IssueV1(t, Template{CommonName: "ee.example"})
	c := ee.Cert
	if c.Version != 1 || c.BasicConstraintsValid || c.IsCA || len(c.DNSNames) != 0 || len(c.Extensions) != 0 {
		t.Fatalf("version %d, basic constraints %v/%v, DNS names %q, %d extensions: want a bare v1 certificate",
			c.Version, c.BasicConstraintsValid, c.IsCA, c.DNSNames, len(c.Extensions))
	}
	if c.Subject.CommonName != "ee.example" || c.Issuer.CommonName != "v1 root" {
		t.Fatalf("subject %q, issuer %q", c.Subject, c.Issuer)
	}
	if err := c.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatalf("signature: %v", err)
	}
	leaf := ee.Issue(t, Template{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}})
	if err := leaf.Cert.CheckSignatureFrom(c); err != nil {
		t.Fatalf("crypto/x509 lets a version 1 certificate sign: %v", err)
	}
}

// TestNameConstraints: a CA's name constraints reach crypto/x509, which
// refuses a leaf whose DNS name is outside them.
func TestNameConstraints(t *testing.T) {
	root := NewRoot(t, "root")
	sub := root.Issue(t, Template{CommonName: "sub", CA: true, PermittedDNSDomains: []string{"other.example"}, ExcludedDNSDomains: []string{"bad.other.example"}})
	if got := sub.Cert.PermittedDNSDomains; len(got) != 1 || got[0] != "other.example" {
		t.Fatalf("permitted %q", got)
	}
	if got := sub.Cert.ExcludedDNSDomains; len(got) != 1 || got[0] != "bad.other.example" {
		t.Fatalf("excluded %q", got)
	}
	for name, ok := range map[string]bool{"mx.other.example": true, "mx.example.com": false, "bad.other.example": false} {
		leaf := sub.Issue(t, Template{DNSNames: []string{name}})
		_, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: Pool(root), Intermediates: Pool(sub)})
		if (err == nil) != ok {
			t.Errorf("%s: verify error %v, want ok %v", name, err, ok)
		}
	}
}
