package dane

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mxroute-go/mxroute/internal/testpki"
)

type testCert = testpki.Cert

// pki is a root CA, an intermediate, and leaves it issued.
type pki struct {
	root, inter, leaf, expiredLeaf, otherLeaf, wildLeaf, cnLeaf *testCert
}

func newPKI(t testing.TB) *pki {
	now := time.Now()
	p := &pki{root: testpki.NewRoot(t, "Test Root")}
	p.inter = p.root.Issue(t, testpki.Template{CommonName: "Test Intermediate", CA: true})
	p.leaf = p.inter.Issue(t, testpki.Template{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"}})
	p.expiredLeaf = p.inter.Issue(t, testpki.Template{CommonName: "mx.example.com", DNSNames: []string{"mx.example.com"},
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	p.otherLeaf = p.inter.Issue(t, testpki.Template{CommonName: "other.example.net", DNSNames: []string{"other.example.net"}})
	p.wildLeaf = p.inter.Issue(t, testpki.Template{DNSNames: []string{"*.example.com"}})
	p.cnLeaf = p.inter.Issue(t, testpki.Template{CommonName: "mx.example.com"})
	return p
}

// chain gives the certificates of a leaf and the given issuers.
func chain(cs ...*testCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(cs))
	for i, c := range cs {
		out[i] = c.Cert
	}
	return out
}

// tlsCert makes a tls.Certificate presenting leaf and then the issuers.
func tlsCert(leaf *testCert, issuers ...*testCert) tls.Certificate { return leaf.TLS(issuers...) }

func rec(t testing.TB, u Usage, s Selector, m MatchingType, c *testCert) Record {
	t.Helper()
	r, err := NewRecord(u, s, m, c.Cert)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
