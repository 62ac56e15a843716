// Package mtasts implements the sender side of SMTP MTA Strict Transport
// Security, RFC 8461: the _mta-sts TXT record, the policy fetched over HTTPS,
// MX host matching, and the policy cache that defeats a downgrade.
//
// [Client.Lookup] gives the policy that applies to a recipient domain:
//
//   - It asks the TXT record _mta-sts.<domain> (Section 3.1) through a
//     [TXTFunc], so any resolver can answer; when several records are
//     returned, those not beginning with "v=STSv1;" are discarded, and unless
//     exactly one is left the domain has no available policy.
//   - A cached, unexpired policy with the record's id is used as it is: the
//     TXT question is the only round-trip (Section 3.3, 5.1). A changed id, an
//     expired policy, or one due for refresh (at half its max_age, at most
//     RefreshAfter, a day) is fetched anew.
//   - The fetch is an HTTPS GET of https://mta-sts.<domain>/.well-known/mta-sts.txt
//     (Section 3.3): the certificate must be WebPKI-valid for that name,
//     redirects are not followed, only HTTP 200 with media type text/plain is
//     accepted, the body is bounded (64 KiB) and so is the time (30 s); no HTTP
//     cache is used.
//   - "if no 'live' policy can be discovered via DNS or fetched via HTTPS,
//     but a valid (non-expired) policy exists in the sender's cache, the
//     sender MUST apply that cached policy" (Section 3.3): a failed fetch, a
//     failed TXT lookup and a vanished TXT record all keep a cached policy in
//     force until its max_age ends.
//   - The policy (Section 3.2): version STSv1, mode enforce, testing or none,
//     mx patterns, max_age up to 31557600 seconds; LF or CRLF line ends;
//     unknown fields ignored; of a repeated field other than mx only the
//     first counts.
//   - [Policy.Match] matches an MX host name against the mx patterns (Section
//     4.1): "*.example.com" matches exactly one more leftmost label; case and
//     a trailing dot do not matter.
//
// The policy cache is a [Store]: [MemoryStore]; [FileStore], which
// survives restarts and whose reads never wait for its writes; or
// [SQLStore], a table in PostgreSQL or SQLite that a fleet of MTAs shares,
// where the newer fetch wins and reads never wait for writes either. All
// are bounded in entries and bytes (a policy costs about its body) and
// evict expired entries, then policies in mode none or testing, then the
// least recently used: never by expiry, which would let an attacker's
// year-long policies push out a victim's one-day policy in use. Failures
// carry the RFC 8460 (TLSRPT) result type ([Result]:
// sts-policy-fetch-error, sts-policy-invalid, sts-webpki-invalid).
//
// [TLSConfig] is the STARTTLS configuration for an MX host under a policy
// (Section 4.2): a chain to a trusted root, unexpired, with a DNS-ID for the
// MX host name; its failures carry RFC 8460 results too.
//
// What the package leaves to the caller, which knows the MX hosts and opens
// the connections (Sections 4 and 5): with mode enforce, an MX host that
// matches no pattern, offers no STARTTLS or fails TLSConfig's checks is not
// used, and a message left with no host is deferred, not bounced; with
// testing, failures are reported and delivery goes on; DANE, where a host
// has it, takes precedence (Section 2).
package mtasts
