// Package dane authenticates the TLS certificate of an SMTP server with its
// TLSA records: DNS-Based Authentication of Named Entities for SMTP, RFC 7672
// on top of RFC 6698 and RFC 7671.
//
// A [Policy] is built from the TLSA RRset of one mail host (a DNSSEC-secure
// answer for _25._tcp.<host>; finding and validating it is the caller's job)
// and gives the [*tls.Config] for STARTTLS ([Policy.TLSConfig]) or checks a
// finished handshake ([Policy.Verify]). What the package enforces:
//
//   - Only DANE-TA(2) and DANE-EE(3) records are usable: "SMTP clients
//     MUST NOT use ... PKIX-TA(0) or PKIX-EE(1)" records and treat them as
//     unusable (RFC 7672, Section 3.1.3), as are records with an unknown
//     selector or matching type, or a digest of the wrong length (RFC 6698,
//     Section 2.1; RFC 7671, Section 4).
//   - A secure TLSA RRset with a usable record: "Any connection to the MTA
//     MUST employ TLS authenticated via DANE TLSA records" ([ModeDANE]). A
//     non-empty RRset whose records are all unusable: "Any connection to the
//     MTA MUST be made via TLS, but authentication is not required"
//     ([ModeEncrypt]). No records: pre-DANE opportunistic TLS ([ModeNone])
//     (RFC 7672, Section 2.2).
//   - DANE-EE(3): the leaf certificate or its public key matches; names and
//     the validity period are not checked (RFC 7672, Sections 3.1.1 and
//     3.2.1).
//   - DANE-TA(2): a certificate of the presented chain matches, or the record
//     is itself the trust anchor's certificate ("2 0 0") or key ("2 1 0"),
//     which the server need not send (RFC 7671, Sections 5.2.2 and 5.2.3;
//     a bare key is a root holding only that key, and the certificate it
//     signed an intermediate, a CA unless it is the leaf); the chain from
//     the leaf is verified by crypto/x509 with that trust anchor as the
//     only root, validity periods included, and the leaf must
//     carry one of the reference identifiers, the TLSA base domain, the MX
//     host name and, with a secure MX RRset, the next-hop domain
//     ([Policy.Names]) (RFC 7672, Sections 3.1.2 and 3.2.2): its DNS-IDs when it
//     has any, else its CN, a wildcard only as the whole leftmost label
//     (Section 3.2.3); a name taken from the CN must lie within the DNS
//     name constraints of the chain's CAs, which crypto/x509 applies to
//     SANs only (RFC 5280, Section 4.2.1.10).
//   - SNI: the client sends the TLSA base domain (RFC 7672, Section 8.1).
//   - Failures carry the RFC 8460 (TLSRPT) result type ([Result]).
//
// Matching uses crypto/x509, crypto/tls, crypto/sha256 and crypto/sha512; no
// cryptography is written here.
package dane
