package dane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// testCert is a certificate generated for a test, with its key.
type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64

// genCert makes a certificate signed by parent (self-signed when nil). A CA
// when ca; names are DNS subjectAltNames; cn the subject common name.
func genCert(t testing.TB, parent *testCert, ca bool, cn string, names []string, notBefore, notAfter time.Time) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key}
}

// pki is a root CA, an intermediate, and leaves for mx.example.com.
type pki struct {
	root, inter, leaf, expiredLeaf, otherLeaf, wildLeaf, cnLeaf *testCert
}

func newPKI(t testing.TB) *pki {
	now := time.Now()
	p := &pki{}
	p.root = genCert(t, nil, true, "Test Root", nil, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.inter = genCert(t, p.root, true, "Test Intermediate", nil, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.leaf = genCert(t, p.inter, false, "mx.example.com", []string{"mx.example.com"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.expiredLeaf = genCert(t, p.inter, false, "mx.example.com", []string{"mx.example.com"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	p.otherLeaf = genCert(t, p.inter, false, "other.example.net", []string{"other.example.net"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.wildLeaf = genCert(t, p.inter, false, "", []string{"*.example.com"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	p.cnLeaf = genCert(t, p.inter, false, "mx.example.com", nil, now.Add(-time.Hour), now.Add(24*time.Hour))
	return p
}

// chain gives the certificates of a leaf and the given issuers.
func chain(cs ...*testCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.cert
	}
	return out
}

// tlsCert makes a tls.Certificate presenting leaf and then the issuers.
func tlsCert(leaf *testCert, issuers ...*testCert) tls.Certificate {
	tc := tls.Certificate{PrivateKey: leaf.key, Leaf: leaf.cert}
	tc.Certificate = append(tc.Certificate, leaf.cert.Raw)
	for _, c := range issuers {
		tc.Certificate = append(tc.Certificate, c.cert.Raw)
	}
	return tc
}

func rec(t testing.TB, u Usage, s Selector, m MatchingType, c *testCert) Record {
	t.Helper()
	r, err := NewRecord(u, s, m, c.cert)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
