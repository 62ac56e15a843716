package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"
)

// TestFileName: the file name of RFC 8460, Section 5.1, its own example.
func TestFileName(t *testing.T) {
	got := FileName("mail.sndr.example.com", "example.net", time.Unix(1470013207, 0), time.Unix(1470186007, 0), "001")
	if want := "mail.sndr.example.com!example.net!1470013207!1470186007!001.json.gz"; got != want {
		t.Errorf("%q, want Section 5.1's %q", got, want)
	}
	if got := FileName("s.example", "p.example", time.Unix(1, 0), time.Unix(2, 0), ""); got != "s.example!p.example!1!2.json.gz" {
		t.Errorf("without unique-id: %q", got)
	}
}

// newTestEncoded encodes the report of testSessions.
func newTestEncoded(t *testing.T, sub Submitter) *Encoded {
	t.Helper()
	c := &Collector{}
	for _, s := range testSessions() {
		if err := c.Add(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.Report(t.Context(), sub, "example.com", testDay)
	if err != nil {
		t.Fatal(err)
	}
	e, err := sub.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEncode: the report gzipped (Section 5.2) under its file name, whose
// timestamps are the report's date-range (Section 5.6: they must agree).
func TestEncode(t *testing.T) {
	sub := testSub
	sub.UniqueID = "7"
	e := newTestEncoded(t, sub)
	start, end := testDay.Start().Unix(), testDay.End().Unix()-1
	if want := "mail.sender.example!example.com!1459468800!1459555199!7.json.gz"; e.FileName != want || start != 1459468800 || end != 1459555199 {
		t.Errorf("file name %q, want %q", e.FileName, want)
	}
	if e.PolicyDomain != "example.com" || e.Submitter != "mail.sender.example" {
		t.Errorf("%q %q", e.PolicyDomain, e.Submitter)
	}
	if !bytes.HasPrefix(e.Gzip, []byte{0x1f, 0x8b}) {
		t.Errorf("not gzip: % x", e.Gzip[:4])
	}
	zr, err := gzip.NewReader(bytes.NewReader(e.Gzip))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e.Report)
	if !bytes.Equal(js, want) || zr.Name != "mail.sender.example!example.com!1459468800!1459555199!7.json" {
		t.Errorf("gunzipped %s (name %q), want %s", js, zr.Name, want)
	}

	if _, err := testSub.Encode(&Report{ReportID: "x", ContactInfo: "postmaster@mail.sender.example"}); err == nil {
		t.Error("an empty report encoded: it has no policy domain to name")
	}
	other := *e.Report
	other.ContactInfo = "tlsrpt@elsewhere.example"
	if _, err := testSub.Encode(&other); !errors.Is(err, ErrSubmitter) {
		t.Errorf("contact-info at another domain: %v, want ErrSubmitter", err)
	}
}
