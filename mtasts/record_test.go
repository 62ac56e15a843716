package mtasts

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		txt    string
		id     string // "" = error
		ext    int
		reason string
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", 0, "the example of Section 3.1"},
		{"v=STSv1; id=abc", "abc", 0, "no trailing separator"},
		{"v=STSv1;id=abc;", "abc", 0, "no white space around ;"},
		{"v=STSv1 \t;\t id=abc \t; ", "abc", 0, "WSP on both sides of ; (sts-sep)"},
		{"v=STSv1; id=abc; ext=1; foo.bar-baz_=x:y", "abc", 2, "extensions are kept and ignored"},
		{"v=STSv1; ext=1; id=abc", "abc", 1, "id need not come first"},
		{"v=STSv1; id=abc; id=def", "abc", 0, "a repeated id counts once, the first"},
		{"v=STSv1; id=" + strings.Repeat("a", 32), strings.Repeat("a", 32), 0, "id of 32 characters"},
		{"v=STSv1; id=abc; ", "abc", 0, "trailing WSP after the separator"},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", 0, "id of 33 characters"},
		{"v=STSv1; id=ab-c", "", 0, "id with a hyphen"},
		{"v=STSv1; id=", "", 0, "empty id"},
		{"v=STSv1;", "", 0, "no field"},
		{"v=STSv1", "", 0, "version only"},
		{"v=STSv1; ext=1", "", 0, "no id field"},
		{"v=stsv1; id=abc", "", 0, "version is case-sensitive (%s)"},
		{"v=STSv2; id=abc", "", 0, "another version"},
		{"v=STSv1x; id=abc", "", 0, "version followed by junk"},
		{" v=STSv1; id=abc", "", 0, "leading space"},
		{"v=STSv1; id=abc;; ext=1", "", 0, "empty field"},
		{"v=STSv1; id=abc; e xt=1", "", 0, "space in a name"},
		{"v=STSv1; id=abc; ext=a=b", "", 0, "= in an extension value"},
		{"v=STSv1; id=abc; _ext=1", "", 0, "extension name begins with _"},
		{"v=STSv1; id=abc; ext=\x01", "", 0, "control character"},
		{"v=STSv1; ID=abc", "", 0, "ID is an extension, not the id (%s\"id=\")"},
	}
	for _, tc := range tests {
		r, err := ParseRecord(tc.txt)
		if tc.id == "" {
			if err == nil {
				t.Errorf("%q: %s: parsed as %+v, want an error", tc.txt, tc.reason, r)
			} else if !errors.Is(err, ErrRecordSyntax) || !strings.Contains(err.Error(), "\"") {
				t.Errorf("%q: %s: error %v should wrap ErrRecordSyntax and quote the input", tc.txt, tc.reason, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %s: %v", tc.txt, tc.reason, err)
			continue
		}
		if r.ID != tc.id || len(r.Extensions) != tc.ext {
			t.Errorf("%q: %s: id %q with %d extensions", tc.txt, tc.reason, r.ID, len(r.Extensions))
		}
		again, err := ParseRecord(r.String())
		if err != nil || again.ID != r.ID || len(again.Extensions) != len(r.Extensions) {
			t.Errorf("%q: String() %q does not parse back: %v", tc.txt, r.String(), err)
		}
	}
}

func TestFindRecord(t *testing.T) {
	tests := []struct {
		txts   []string
		id     string
		err    error
		reason string
	}{
		{nil, "", ErrNoRecord, "no TXT records"},
		{[]string{"v=spf1 -all", "google-site-verification=x"}, "", ErrNoRecord, "records not beginning with v=STSv1; are discarded (Section 3.1)"},
		{[]string{"v=spf1 -all", "v=STSv1; id=a1"}, "a1", nil, "one STS record among others"},
		{[]string{"v=STSv1; id=a1", "v=STSv1; id=b2"}, "", ErrMultipleRecords, "two STS records: no policy (Section 3.1)"},
		{[]string{"v=STSv1; id=a-1"}, "", ErrRecordSyntax, "the one record is malformed: no policy"},
		{[]string{"v=STSv1 ; id=a1"}, "a1", nil, "WSP before the first ; still begins the record"},
		{[]string{"v=STSv10; id=a1"}, "", ErrNoRecord, "v=STSv10 is not v=STSv1"},
	}
	for _, tc := range tests {
		r, err := FindRecord(tc.txts)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%q: %s: got %v, want %v", tc.txts, tc.reason, err, tc.err)
			}
			continue
		}
		if err != nil || r.ID != tc.id {
			t.Errorf("%q: %s: got %+v, %v", tc.txts, tc.reason, r, err)
		}
	}
}
