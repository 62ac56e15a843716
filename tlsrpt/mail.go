package tlsrpt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"
)

// Message composes the report message of RFC 8460, Section 5.3 to the
// addresses given (the record's mailto: addresses, one message to all),
// dated date, as CRLF-terminated bytes for the MTA's own queue:
//
//   - From the report's contact-info; To the addresses; Date; a Message-ID
//     made of the report-id;
//   - Subject: "Report Domain: <policy domain> Submitter: <submitter>
//     Report-ID: <report-id>", the form Section 5.3 gives, folded;
//   - TLS-Report-Domain and TLS-Report-Submitter ("These message headers
//     MUST be included");
//   - TLS-Required: No (RFC 8689, Section 5): "Sending MTAs MUST deliver
//     reports despite any TLS-related failures" (Section 3), so that a
//     report reaches a receiver whose TLS is the very thing reported;
//   - Content-Type multipart/report; report-type="tlsrpt" (RFC 6522): a
//     text/plain part for people, then the report as application/tlsrpt+gzip,
//     base64, attached under its file name (Section 5.1).
//
// The message is not DKIM-signed: "Reports sent via SMTP MUST contain a
// valid DKIM signature by the reporting domain" (Section 3), so the MTA
// signs it with its key for the submitter's domain, TLS-Report-Domain and
// TLS-Report-Submitter among the signed headers (Section 5.3: "SHOULD be
// included in the DKIM signature"), before it sends. And the MTA delivers
// it ignoring MTA-STS and DANE failures, with the sessions that do marked
// Session.Report, so the report's own delivery is never counted.
func (e *Encoded) Message(to []string, date time.Time) ([]byte, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("tlsrpt: report %q: no recipient", e.Report.ReportID)
	}
	for _, a := range to {
		local, d, ok := strings.Cut(a, "@")
		if _, err := normDomain(d); !ok || err != nil || !validLocal(local) || !isASCII(d) {
			return nil, fmt.Errorf("tlsrpt: report %q: recipient %q is not an address (local@domain, ASCII)", e.Report.ReportID, a)
		}
	}
	from := e.Report.ContactInfo
	if local, d, ok := strings.Cut(from, "@"); !ok || !validLocal(local) || !strings.EqualFold(d, e.Submitter) {
		return nil, fmt.Errorf("%w: the report's contact-info %q is not an address at %q", ErrSubmitter, from, e.Submitter)
	}
	id := e.Report.ReportID
	if l, r, ok := strings.Cut(id, "@"); !ok || !validLocal(l) || strings.Contains(r, "@") || !validLocal(r) {
		return nil, fmt.Errorf("tlsrpt: report-id %q has not the form id-left@id-right the Subject needs", id)
	}

	var b bytes.Buffer
	hdr := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	hdr("From", "<"+from+">")
	hdr("To", "<"+strings.Join(to, ">,\r\n <")+">")
	hdr("Date", date.Format(time.RFC1123Z))
	hdr("Subject", "Report Domain: "+e.PolicyDomain+"\r\n Submitter: "+e.Submitter+"\r\n Report-ID: <"+id+">")
	hdr("Message-ID", "<"+id+">")
	hdr("TLS-Report-Domain", e.PolicyDomain)
	hdr("TLS-Report-Submitter", e.Submitter)
	hdr("TLS-Required", "No")
	hdr("MIME-Version", "1.0")

	// A boundary of the report-id's hash: the same report gives the same
	// message, and "=_" never occurs in base64 nor in the text part.
	sum := sha256.Sum256([]byte(id))
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("tlsrpt=_" + hex.EncodeToString(sum[:12])); err != nil {
		return nil, err
	}
	hdr("Content-Type", `multipart/report; report-type="tlsrpt";`+"\r\n\tboundary=\""+mw.Boundary()+"\"")
	b.WriteString("\r\nThis is a multipart message in MIME format.\r\n")

	text, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {`text/plain; charset="us-ascii"`},
		"Content-Transfer-Encoding": {"7bit"},
	})
	if err != nil {
		return nil, err
	}
	r := e.Report
	fmt.Fprintf(text, "This is an aggregate TLS report (RFC 8460) from %s\r\n"+
		"about TLS connections to the mail servers of %s\r\n"+
		"from %s to %s.\r\n\r\n"+
		"You receive it because the TLSRPT record of %s\r\n"+
		"(_smtp._tls.%s) names this address.\r\n",
		e.Submitter, e.PolicyDomain,
		r.DateRange.Start.UTC().Format(time.RFC3339), r.DateRange.End.UTC().Format(time.RFC3339),
		e.PolicyDomain, e.PolicyDomain)

	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"application/tlsrpt+gzip"},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition": {strings.Replace(mime.FormatMediaType("attachment", map[string]string{"filename": e.FileName}),
			"; ", ";\r\n\t", 1)},
	})
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(e.Gzip)
	for len(enc) > 76 {
		att.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	att.Write([]byte(enc + "\r\n"))
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
