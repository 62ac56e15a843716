package tlsrpt

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMessage: the report message of RFC 8460, Section 5.3, read back with
// the standard library as a receiver would.
func TestMessage(t *testing.T) {
	e := newTestEncoded(t, testSub)
	date := time.Date(2016, 4, 2, 3, 4, 5, 0, time.FixedZone("", -8*3600))
	to := []string{"tlsrpt@example.com", "reports@rua.example"}
	msg, err := e.Message(to, date)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.Message(to, date); !bytes.Equal(again, msg) {
		t.Error("the same report gives another message: a requeued report would not be recognised")
	}
	for i, line := range strings.SplitAfter(string(msg), "\n") {
		if line != "" && !strings.HasSuffix(line, "\r\n") {
			t.Errorf("line %d %q does not end in CRLF", i+1, line)
		}
		if len(line) > 78+2 {
			t.Errorf("line %d is %d long", i+1, len(line))
		}
	}

	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	for _, tc := range []struct{ name, want, why string }{
		{"From", "<postmaster@mail.sender.example>", "the contact-info"},
		{"TLS-Report-Domain", "example.com", `"These message headers MUST be included"`},
		{"TLS-Report-Submitter", "mail.sender.example", `"MUST match" the report's submitter domain`},
		{"TLS-Required", "No", "RFC 8689: deliver despite TLS failures"},
		{"MIME-Version", "1.0", "MIME"},
		{"Message-ID", "<20160401.example.com@mail.sender.example>", "the report-id"},
	} {
		if got := h.Get(tc.name); got != tc.want {
			t.Errorf("%s: %q, want %q (%s)", tc.name, got, tc.want, tc.why)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(date) {
		t.Errorf("Date: %v, %v", d, err)
	}
	if l, err := h.AddressList("To"); err != nil || len(l) != 2 || l[0].Address != to[0] || l[1].Address != to[1] {
		t.Errorf("To: %v, %v", l, err)
	}
	// tlsrpt-subject = "Report" FWS "Domain:" FWS domain-name FWS
	//                  "Submitter:" FWS domain-name FWS "Report-ID:" FWS "<" id-left "@" id-right ">"
	subject := regexp.MustCompile(`^Report\s+Domain:\s+(\S+)\s+Submitter:\s+(\S+)\s+Report-ID:\s+<([^@>\s]+@[^@>\s]+)>$`)
	if sm := subject.FindStringSubmatch(h.Get("Subject")); sm == nil || sm[1] != "example.com" || sm[2] != "mail.sender.example" ||
		sm[3] != e.Report.ReportID {
		t.Errorf("Subject %q does not follow Section 5.3's ABNF with the report's names", h.Get("Subject"))
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q: %s %v %v", h.Get("Content-Type"), mt, params, err)
	}

	mr := multipart.NewReader(m.Body, params["boundary"])
	text, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := text.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("first part %q: RFC 6522 puts the human-readable part first", ct)
	}
	tb, _ := io.ReadAll(text)
	if !strings.Contains(string(tb), "example.com") || strings.ContainsFunc(string(tb), func(r rune) bool { return r > 0x7e }) {
		t.Errorf("text part %q: us-ascii, naming the domain", tb)
	}
	att, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := att.Header.Get("Content-Type"); ct != "application/tlsrpt+gzip" {
		t.Errorf("report part Content-Type %q", ct)
	}
	if cte := att.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
		t.Errorf("report part Content-Transfer-Encoding %q", cte)
	}
	if att.FileName() != e.FileName {
		t.Errorf("attachment file name %q, want %q", att.FileName(), e.FileName)
	}
	if d, _, _ := mime.ParseMediaType(att.Header.Get("Content-Disposition")); d != "attachment" {
		t.Errorf("Content-Disposition %q", att.Header.Get("Content-Disposition"))
	}
	gz, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, att))
	if err != nil || !bytes.Equal(gz, e.Gzip) {
		t.Errorf("the attachment is not the gzipped report: %v", err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}

	for _, bad := range [][]string{nil, {"tlsrpt@example.com\r\nBcc: x@evil.example"}, {"no-at-sign"}, {"a b@example.com"}} {
		if _, err := e.Message(bad, date); err == nil {
			t.Errorf("recipients %q accepted", bad)
		}
	}
}
