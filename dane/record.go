package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Usage is a TLSA certificate usage field (RFC 6698, Section 2.1.1; RFC 7218
// names).
type Usage uint8

// The certificate usages. Only UsageDANETA and UsageDANEEE are usable for
// SMTP (RFC 7672, Section 3.1).
const (
	UsagePKIXTA Usage = 0 // PKIX-TA: CA constraint, unusable for SMTP
	UsagePKIXEE Usage = 1 // PKIX-EE: service certificate constraint, unusable for SMTP
	UsageDANETA Usage = 2 // DANE-TA: trust anchor assertion
	UsageDANEEE Usage = 3 // DANE-EE: domain-issued certificate
)

// Selector is a TLSA selector field (RFC 6698, Section 2.1.2).
type Selector uint8

// The selectors.
const (
	SelectorCert Selector = 0 // Cert: the full DER certificate
	SelectorSPKI Selector = 1 // SPKI: the DER SubjectPublicKeyInfo
)

// MatchingType is a TLSA matching type field (RFC 6698, Section 2.1.3).
type MatchingType uint8

// The matching types.
const (
	MatchFull   MatchingType = 0 // Full: the selected content itself
	MatchSHA256 MatchingType = 1 // SHA2-256 digest of the selected content
	MatchSHA512 MatchingType = 2 // SHA2-512 digest of the selected content
)

// Record is one TLSA record: the three fields and the certificate
// association data (binary, not hex).
type Record struct {
	Usage        Usage
	Selector     Selector
	MatchingType MatchingType
	Data         []byte
}

// FromTLSA converts a miekg/dns TLSA record. Its hex data must decode; the
// other fields are taken as they are (an unusable record is still a record:
// see [Record.Usable]).
func FromTLSA(rr *dns.TLSA) (Record, error) {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, fmt.Errorf("dane: TLSA %d %d %d %q: association data is not hex: %w",
			rr.Usage, rr.Selector, rr.MatchingType, rr.Certificate, err)
	}
	return Record{Usage: Usage(rr.Usage), Selector: Selector(rr.Selector), MatchingType: MatchingType(rr.MatchingType), Data: data}, nil
}

// String gives the record in presentation format, "3 1 1 <hex>".
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, strings.ToLower(hex.EncodeToString(r.Data)))
}

// Usable reports whether an SMTP client may use the record, and if not, why:
// PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672, Section 3.1.3),
// as are unknown usages, selectors and matching types, and digests of the
// wrong length (RFC 7671, Section 4: such records are "unusable").
func (r Record) Usable() (bool, string) {
	switch r.Usage {
	case UsageDANETA, UsageDANEEE:
	case UsagePKIXTA, UsagePKIXEE:
		return false, fmt.Sprintf("certificate usage %d (PKIX) is not used by SMTP", r.Usage)
	default:
		return false, fmt.Sprintf("unknown certificate usage %d", r.Usage)
	}
	switch r.Selector {
	case SelectorCert, SelectorSPKI:
	default:
		return false, fmt.Sprintf("unknown selector %d", r.Selector)
	}
	switch r.MatchingType {
	case MatchFull:
		if len(r.Data) == 0 {
			return false, "empty association data"
		}
	case MatchSHA256:
		if len(r.Data) != sha256.Size {
			return false, fmt.Sprintf("SHA2-256 data of %d bytes, not %d", len(r.Data), sha256.Size)
		}
	case MatchSHA512:
		if len(r.Data) != sha512.Size {
			return false, fmt.Sprintf("SHA2-512 data of %d bytes, not %d", len(r.Data), sha512.Size)
		}
	default:
		return false, fmt.Sprintf("unknown matching type %d", r.MatchingType)
	}
	return true, ""
}

// Matches reports whether the certificate matches the record's selector,
// matching type and data; the usage is not looked at. A record that is not
// usable matches nothing.
func (r Record) Matches(cert *x509.Certificate) bool {
	if ok, _ := r.Usable(); !ok || cert == nil {
		return false
	}
	var content []byte
	switch r.Selector {
	case SelectorCert:
		content = cert.Raw
	case SelectorSPKI:
		content = cert.RawSubjectPublicKeyInfo
	}
	return r.matchesContent(content)
}

func (r Record) matchesContent(content []byte) bool {
	if len(content) == 0 {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return bytes.Equal(content, r.Data)
	case MatchSHA256:
		sum := sha256.Sum256(content)
		return bytes.Equal(sum[:], r.Data)
	case MatchSHA512:
		sum := sha512.Sum512(content)
		return bytes.Equal(sum[:], r.Data)
	}
	return false
}

// NewRecord computes the record of the given usage, selector and matching
// type for a certificate: what a server operator publishes.
func NewRecord(u Usage, s Selector, m MatchingType, cert *x509.Certificate) (Record, error) {
	var content []byte
	switch s {
	case SelectorCert:
		content = cert.Raw
	case SelectorSPKI:
		content = cert.RawSubjectPublicKeyInfo
	default:
		return Record{}, fmt.Errorf("dane: unknown selector %d", s)
	}
	var data []byte
	switch m {
	case MatchFull:
		data = bytes.Clone(content)
	case MatchSHA256:
		sum := sha256.Sum256(content)
		data = sum[:]
	case MatchSHA512:
		sum := sha512.Sum512(content)
		data = sum[:]
	default:
		return Record{}, fmt.Errorf("dane: unknown matching type %d", m)
	}
	return Record{Usage: u, Selector: s, MatchingType: m, Data: data}, nil
}
