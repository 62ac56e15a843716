// Package tlsrpt implements the sending side of SMTP TLS Reporting, RFC 8460:
// what a sending MTA counts about its TLS sessions, and the daily aggregate
// report it sends to the recipient domains that ask for one.
//
//   - The reporting policy (Section 3): the TXT record at
//     _smtp._tls.<policy domain>, "v=TLSRPTv1; rua=mailto:...,https://...",
//     parsed strictly ([ParseRecord], [FindRecord]) and looked up through any
//     resolver ([Lookup] with a [TXTFunc]; the mxroute Router's TLSRPT method
//     asks through its own Resolver). Records that do not begin with
//     "v=TLSRPTv1" are discarded; unless exactly one is left, the domain has
//     no TLSRPT.
//   - The counts (Section 4): a [Collector] is fed one [Session] per attempted
//     delivery: the policy applied (an MTA-STS policy, DANE TLSA records, or
//     none found), success or the RFC 8460 failure [Result], the addresses and
//     names seen. It counts them per policy domain and UTC day in a [Store]:
//     a [MemoryStore], a [FileStore] (one file, for a single MTA without a
//     database), or a [SQLStore] over database/sql that a fleet of MTAs can
//     share (PostgreSQL, SQLite; the caller brings the driver).
//   - The report (Section 4.4): [Submitter.Report] turns a day's counters
//     into the JSON report with every field of the RFC's schema.
//   - The delivery (Section 5): [Submitter.Encode] gzips it under the file
//     name of Section 5.1; [Encoded.Post] sends it to an https: address as
//     application/tlsrpt+gzip (Section 5.4); [Encoded.Message] composes the
//     multipart/report message of Section 5.3 for a mailto: address, with
//     "TLS-Required: No" (RFC 8689), as bytes for the MTA's own queue.
//
// The mxroute Dialer feeds a Collector itself (its TLSReports field): each
// attempt that got to TLS is one Session. A report's own delivery is never
// counted in a report (Section 3: sending MTAs "SHOULD NOT include this SMTP
// session in the next report"): with the mxroute Dialer, reports go out
// through a Dialer without TLSReports (and without MTA-STS and DANE, so that
// they get through "despite any TLS-related failures"); an MTA that feeds
// the Collector itself marks the sessions that deliver a report message
// ([Session.Report]) and the Collector drops them.
//
// The package also names the RFC 8460 result types ([Result]) that packages
// dane and mtasts return, so an MTA counts a failure under one type whichever
// package found it.
package tlsrpt
