// Package testpki makes certificates for tests: a root CA, intermediates and
// server certificates with ECDSA P-256 keys, through crypto/x509. The DANE
// and MTA-STS tests (and any STARTTLS test) use it.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// Cert is a certificate and its key.
type Cert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Template says what to issue. Zero NotBefore/NotAfter: an hour ago, a day
// from now.
type Template struct {
	CommonName string
	DNSNames   []string
	CA         bool // a CA certificate (basic constraints, certSign)
	NotBefore  time.Time
	NotAfter   time.Time
	// PermittedDNSDomains and ExcludedDNSDomains are name constraints
	// (RFC 5280, Section 4.2.1.10), for a CA. Empty: none.
	PermittedDNSDomains []string
	ExcludedDNSDomains  []string
	// Key is the certificate's key, e.g. KeyFrom's, so that a digest of it
	// (a TLSA record's) is the same on every run. nil: a new key.
	Key *ecdsa.PrivateKey
}

// KeyFrom gives the P-256 key whose scalar is the SHA-256 of seed: the same
// key for the same seed on every run, for tests whose golden output shows
// a digest of a key. Never for anything but tests.
func KeyFrom(seed string) *ecdsa.PrivateKey {
	d := sha256.Sum256([]byte(seed))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		panic("testpki: seed " + seed + " gives no P-256 key: " + err.Error()) // a chance of 2^-32: take another seed
	}
	return k
}

// NewRoot makes a self-signed root CA.
func NewRoot(t testing.TB, cn string) *Cert {
	t.Helper()
	return issue(t, nil, Template{CommonName: cn, CA: true})
}

// NewRootValid makes a self-signed root CA valid from notBefore to notAfter,
// for a test whose clock moves (a synctest bubble) beyond NewRoot's day.
func NewRootValid(t testing.TB, cn string, notBefore, notAfter time.Time) *Cert {
	t.Helper()
	return issue(t, nil, Template{CommonName: cn, CA: true, NotBefore: notBefore, NotAfter: notAfter})
}

// Issue makes a certificate signed by c.
func (c *Cert) Issue(t testing.TB, tmpl Template) *Cert {
	t.Helper()
	return issue(t, c, tmpl)
}

func issue(t testing.TB, parent *Cert, tm Template) *Cert {
	t.Helper()
	c, err := Make(parent, tm)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Make issues a certificate from tm signed by parent (nil: self-signed),
// for callers without a testing.TB: examples and harnesses.
func Make(parent *Cert, tm Template) (*Cert, error) {
	key := tm.Key
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if tm.NotBefore.IsZero() {
		tm.NotBefore = now.Add(-time.Hour)
	}
	if tm.NotAfter.IsZero() {
		tm.NotAfter = now.Add(24 * time.Hour)
	}
	x := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: tm.CommonName},
		DNSNames:     tm.DNSNames,
		NotBefore:    tm.NotBefore,
		NotAfter:     tm.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if tm.CA {
		x.IsCA, x.BasicConstraintsValid = true, true
		x.KeyUsage |= x509.KeyUsageCertSign
		x.PermittedDNSDomains, x.ExcludedDNSDomains = tm.PermittedDNSDomains, tm.ExcludedDNSDomains
	} else {
		x.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, signerKey := x, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, x, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: cert, Key: key}, nil
}

// TLS gives the tls.Certificate that presents c and then the issuers, in
// the order given.
func (c *Cert) TLS(issuers ...*Cert) tls.Certificate {
	tc := tls.Certificate{PrivateKey: c.Key, Leaf: c.Cert, Certificate: [][]byte{c.Cert.Raw}}
	for _, i := range issuers {
		tc.Certificate = append(tc.Certificate, i.Cert.Raw)
	}
	return tc
}

// Pool gives a pool of the certificates, e.g. the roots a client trusts.
func Pool(certs ...*Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Cert)
	}
	return p
}
