package tlsrpt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestParseRecord: the grammar of RFC 8460, Section 3, case by case.
func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		txt    string
		mailto []string // Record.Mailto()
		https  []string // Record.HTTPS()
		nRUA   int      // all URIs, other schemes included
		ext    []Extension
		err    string // a substring of the error; "" for none
		why    string
	}{
		{txt: "v=TLSRPTv1;rua=mailto:reports@example.com", mailto: []string{"reports@example.com"}, nRUA: 1,
			why: "Section 3.1.1, report using MAILTO"},
		{txt: "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", https: []string{"https://reporting.example.com/v1/tlsrpt"}, nRUA: 1,
			why: "Section 3.1.2, report using HTTPS"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com , https://r.example/x\t,mailto:b@example.net", mailto: []string{"a@example.com", "b@example.net"},
			https: []string{"https://r.example/x"}, nRUA: 3, why: "a comma-separated list, white space around the commas"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com;", mailto: []string{"a@example.com"}, nRUA: 1, why: "one trailing field-delim"},
		{txt: "v=TLSRPTv1 ;\trua=mailto:a@example.com", mailto: []string{"a@example.com"}, nRUA: 1, why: "field-delim is *WSP \";\" *WSP"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; x-ext=1.0; foo=bar", mailto: []string{"a@example.com"}, nRUA: 1,
			ext: []Extension{{"x-ext", "1.0"}, {"foo", "bar"}}, why: "unknown fields are kept and ignored (\"Parsers MUST accept ... a superset\")"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example/", mailto: []string{"a@example.com"}, https: []string{"https://r.example/"}, nRUA: 2,
			why: "two rua fields: the grammar allows them, their URIs are joined"},
		{txt: "v=TLSRPTv1; rua=http://r.example/, mailto:a@example.com", mailto: []string{"a@example.com"}, nRUA: 2,
			why: "a scheme other than mailto and https is a URI all the same, kept but never delivered to"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com%2Cb@example.com", mailto: []string{"a@example.com", "b@example.com"}, nRUA: 1,
			why: "RFC 6068: a mailto with two addresses, the comma encoded as Section 3 requires"},
		{txt: "v=TLSRPTv1; rua=mailto:tlsrpt@example.com?subject=report", mailto: []string{"tlsrpt@example.com"}, nRUA: 1,
			why: "a mailto query is allowed and ignored"},
		{txt: "v=TLSRPTv1; rua=MAILTO:a@example.com", mailto: []string{"a@example.com"}, nRUA: 1, why: "schemes are case-insensitive (RFC 3986, Section 3.1)"},

		{txt: "v=TLSRPTv2; rua=mailto:a@example.com", err: `does not begin with "v=TLSRPTv1"`, why: "another version"},
		{txt: "V=TLSRPTv1; rua=mailto:a@example.com", err: `does not begin`, why: `%s"v=TLSRPTv1" is case-sensitive`},
		{txt: " v=TLSRPTv1; rua=mailto:a@example.com", err: `does not begin`, why: "the version comes first, nothing before it"},
		{txt: "v=TLSRPTv10; rua=mailto:a@example.com", err: `is not followed by ";"`, why: "v=TLSRPTv10 is not v=TLSRPTv1"},
		{txt: "v=TLSRPTv1", err: "no fields", why: "1*(field-delim tlsrpt-field)"},
		{txt: "v=TLSRPTv1;", err: "no fields", why: "a delimiter alone is no field"},
		{txt: "v=TLSRPTv1; x=1", err: "no rua field", why: "the rua field is required"},
		{txt: "v=TLSRPTv1; RUA=mailto:a@example.com", err: "no rua field", why: `%s"rua=" is case-sensitive: RUA is an extension`},
		{txt: "v=TLSRPTv1; rua=", err: `rua URI "": empty`, why: "rua needs a URI"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com", err: "empty", why: "an empty list element"},
		{txt: "v=TLSRPTv1; rua=mailto:a!b@example.com", err: `'!' must be percent-encoded`, why: "exclamation points MUST be encoded"},
		{txt: "v=TLSRPTv1; rua=reports@example.com", err: "no scheme", why: "an address is no URI"},
		{txt: "v=TLSRPTv1; rua=mailto:", err: "without an address", why: "a mailto URI needs an address"},
		{txt: "v=TLSRPTv1; rua=mailto:example.com", err: "is not an address", why: "a mailto URI needs local@domain"},
		{txt: "v=TLSRPTv1; rua=mailto:a@exa_mple.com", err: "is not an address", why: "the address's domain must be a host name"},
		{txt: "v=TLSRPTv1; rua=https:///tlsrpt", err: "without a host", why: "an https URI needs a host"},
		{txt: "v=TLSRPTv1; rua=https://r.example/a b", err: `' ' is not a URI character`, why: "a space in a URI"},
		{txt: "v=TLSRPTv1; rua=https://r.example/%zz", err: "two hex digits", why: "a malformed percent-encoding"},
		{txt: "v=TLSRPTv1; rua=https://r.example/é", err: "is not a URI character", why: "URIs are ASCII"},
		{txt: "v=TLSRPTv1; rua=1mailto:a@example.com", err: "no scheme", why: "a scheme begins with a letter"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com;;", err: `malformed field ""`, why: "only one trailing delimiter"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; x=", err: `malformed field "x="`, why: "an extension value is 1* characters"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; x=a=b", err: `malformed field "x=a=b"`, why: `"=" is not in tlsrpt-ext-value`},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; _x=1", err: `malformed field "_x=1"`, why: "an extension name begins with a letter or digit"},
		{txt: "v=TLSRPTv1; rua=mailto:a@example.com; " + strings.Repeat("x", 33) + "=1", err: "malformed field", why: "an extension name is at most 32 characters"},
	} {
		r, err := ParseRecord(tc.txt)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrRecordSyntax) {
				t.Errorf("%q: err %v, want ErrRecordSyntax with %q (%s)", tc.txt, err, tc.err, tc.why)
			} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.txt)) {
				t.Errorf("%q: the error %q does not quote the input", tc.txt, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v (%s)", tc.txt, err, tc.why)
			continue
		}
		if got := r.Mailto(); strings.Join(got, " ") != strings.Join(tc.mailto, " ") {
			t.Errorf("%q: Mailto %q, want %q (%s)", tc.txt, got, tc.mailto, tc.why)
		}
		if got := r.HTTPS(); strings.Join(got, " ") != strings.Join(tc.https, " ") {
			t.Errorf("%q: HTTPS %q, want %q (%s)", tc.txt, got, tc.https, tc.why)
		}
		if len(r.RUA) != tc.nRUA {
			t.Errorf("%q: %d URIs, want %d (%s)", tc.txt, len(r.RUA), tc.nRUA, tc.why)
		}
		if len(r.Extensions) != len(tc.ext) {
			t.Errorf("%q: extensions %v, want %v (%s)", tc.txt, r.Extensions, tc.ext, tc.why)
		} else {
			for i := range tc.ext {
				if r.Extensions[i] != tc.ext[i] {
					t.Errorf("%q: extensions %v, want %v (%s)", tc.txt, r.Extensions, tc.ext, tc.why)
				}
			}
		}
		// String gives a record that parses to the same.
		again, err := ParseRecord(r.String())
		if err != nil || again.String() != r.String() {
			t.Errorf("%q: String %q does not parse back: %v", tc.txt, r.String(), err)
		}
	}
}

// TestFindRecord: the choice among a name's TXT records (Section 3).
func TestFindRecord(t *testing.T) {
	const good = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"
	for _, tc := range []struct {
		txts []string
		want error // nil: found
		why  string
	}{
		{nil, ErrNoRecord, "no TXT records at all"},
		{[]string{"v=spf1 -all", "google-site-verification=x"}, ErrNoRecord, "records of other uses are discarded"},
		{[]string{"v=spf1 -all", good}, nil, "the one TLSRPT record among others"},
		{[]string{"v=TLSRPTv10; rua=mailto:a@example.com", good}, nil, "v=TLSRPTv10 does not begin with v=TLSRPTv1;"},
		{[]string{"v=TLSRPTv1 ; rua=mailto:a@example.com"}, nil, "white space before the \";\" still begins the record (field-delim)"},
		{[]string{good, good}, ErrMultipleRecords, "two records: the domain has no TLSRPT (\"If the number of resulting records is not one\")"},
		{[]string{good, "v=TLSRPTv1; rua=mailto:"}, ErrMultipleRecords, "two records, one malformed: still two"},
		{[]string{"v=TLSRPTv1; x=1"}, ErrRecordSyntax, "the one record is malformed"},
	} {
		r, err := FindRecord(tc.txts)
		switch {
		case tc.want == nil && (err != nil || r == nil):
			t.Errorf("%q: %v, want a record (%s)", tc.txts, err, tc.why)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%q: %v, want %v (%s)", tc.txts, err, tc.want, tc.why)
		}
	}
}
