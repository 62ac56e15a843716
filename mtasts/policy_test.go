package mtasts

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		body   string
		ok     bool
		mode   Mode
		mx     []string
		maxAge time.Duration
		reason string
	}{
		{"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
			true, ModeEnforce, []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, 604800 * time.Second, "the example of Section 3.2"},
		{"version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n", true, ModeTesting, []string{"mx.example.com"}, 86400 * time.Second, "CRLF line ends"},
		{"version: STSv1\nmode: none\nmax_age: 86400", true, ModeNone, nil, 86400 * time.Second, "mode none needs no mx; no final line end"},
		{"version:STSv1\nmode:\tenforce \nmx:  MX.Example.COM.\nmax_age: 0\n", true, ModeEnforce, []string{"mx.example.com"}, 0, "WSP after the colon and at the end; case folded; max_age 0"},
		{"mode: enforce\nmx: a.example\nmax_age: 31557601\nversion: STSv1\n", true, ModeEnforce, []string{"a.example"}, MaxMaxAge, "max_age above 31557600 is taken as 31557600; order does not matter"},
		{"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 10\nmax_age: 20\n", true, ModeEnforce, []string{"a.example"}, 10 * time.Second, "repeated fields: only the first counts (Section 3.2)"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 10\nfoo: bar baz\nx_y.z-1: ü\n", true, ModeEnforce, []string{"a.example"}, 10 * time.Second, "unknown fields are ignored"},
		{"version: STSv1\n\nmode: enforce\n\nmx: a.example\nmax_age: 10\n\n", true, ModeEnforce, []string{"a.example"}, 10 * time.Second, "blank lines are skipped"},
		{"version: STSv1\nmode: enforce\nmax_age: 10\n", false, "", nil, 0, "enforce without mx"},
		{"version: STSv1\nmode: testing\nmax_age: 10\n", false, "", nil, 0, "testing without mx"},
		{"mode: enforce\nmx: a.example\nmax_age: 10\n", false, "", nil, 0, "no version"},
		{"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 10\n", false, "", nil, 0, "another version"},
		{"version: STSv1\nmx: a.example\nmax_age: 10\n", false, "", nil, 0, "no mode"},
		{"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 10\n", false, "", nil, 0, "mode is case-sensitive"},
		{"version: STSv1\nmode: enforce\nmx: a.example\n", false, "", nil, 0, "no max_age"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", false, "", nil, 0, "max_age of 11 digits"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", false, "", nil, 0, "negative max_age"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1e3\n", false, "", nil, 0, "max_age not digits"},
		{"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", false, "", nil, 0, "empty label in mx"},
		{"version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", false, "", nil, 0, "wildcard not leftmost"},
		{"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", false, "", nil, 0, "bare wildcard"},
		{"version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1\n", false, "", nil, 0, "label begins with a hyphen"},
		{"version: STSv1\nmode: enforce\nmx: 192.0.2.1:25\nmax_age: 1\n", false, "", nil, 0, "not a domain"},
		{"version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", false, "", nil, 0, "line without a colon"},
		{" version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", false, "", nil, 0, "leading space in a key"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo:\n", false, "", nil, 0, "extension with empty value"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo: \x00\n", false, "", nil, 0, "control character"},
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nfoo: \xff\n", false, "", nil, 0, "not UTF-8"},
		{"<html>Not found</html>", false, "", nil, 0, "an HTML page"},
		{"", false, "", nil, 0, "empty"},
	}
	for _, tc := range tests {
		p, err := ParsePolicy([]byte(tc.body))
		if !tc.ok {
			if err == nil {
				t.Errorf("%q: %s: parsed as %+v", tc.body, tc.reason, p)
			} else if !errors.Is(err, ErrPolicySyntax) {
				t.Errorf("%q: %s: error %v does not wrap ErrPolicySyntax", tc.body, tc.reason, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %s: %v", tc.body, tc.reason, err)
			continue
		}
		var mx []string
		for _, m := range p.MX {
			mx = append(mx, m.String())
		}
		if p.Mode != tc.mode || strings.Join(mx, ",") != strings.Join(tc.mx, ",") || p.MaxAge != tc.maxAge {
			t.Errorf("%q: %s: got mode %s, mx %q, max_age %s", tc.body, tc.reason, p.Mode, mx, p.MaxAge)
		}
		again, err := ParsePolicy([]byte(p.String()))
		if err != nil || again.String() != p.String() {
			t.Errorf("%q: String() %q does not parse back: %v", tc.body, p.String(), err)
		}
	}
}

// TestPolicyExtensions: fields the RFC does not define are kept in order,
// values trimmed as the grammar's *WSP says, and printed back.
func TestPolicyExtensions(t *testing.T) {
	p, err := ParsePolicy([]byte("version: STSv1\nfoo: bar baz \nmode: enforce\nmx: a.example\nx_y.z-1:\tü\nmax_age: 10\nfoo: again\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Extension{{"foo", "bar baz"}, {"x_y.z-1", "ü"}, {"foo", "again"}}
	if got := p.Extensions(); !slices.Equal(got, want) {
		t.Errorf("Extensions() = %q, want %q", got, want)
	}
	if s := p.String(); !strings.HasSuffix(s, "max_age: 10\r\nfoo: bar baz\r\nx_y.z-1: ü\r\nfoo: again\r\n") {
		t.Errorf("String() = %q", s)
	}
	if got := (&Policy{Mode: ModeNone}).Extensions(); got != nil {
		t.Errorf("a Policy made by hand: Extensions() = %q", got)
	}
}

func TestMatch(t *testing.T) {
	p, err := ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host   string
		want   bool
		reason string
	}{
		{"mail.example.com", true, "exact name"},
		{"MAIL.Example.Com", true, "case-insensitive (Section 4.1)"},
		{"mail.example.com.", true, "a trailing dot does not matter"},
		{"example.com", false, "a parent of an exact name"},
		{"x.mail.example.com", false, "a child of an exact name"},
		{"mx1.example.net", true, "one label under the wildcard (Section 4.1)"},
		{"MX1.EXAMPLE.NET.", true, "wildcard, case and trailing dot"},
		{"example.net", false, "the wildcard's own domain: * is one label, not none"},
		{"a.mx1.example.net", false, "two labels under the wildcard"},
		{".example.net", false, "an empty label"},
		{"mx1.example.net.evil", false, "suffix attack"},
		{"xexample.net", false, "no label boundary"},
		{"", false, "empty host"},
	}
	for _, tc := range tests {
		if got := p.Match(tc.host); got != tc.want {
			t.Errorf("Match(%q) = %v: %s", tc.host, got, tc.reason)
		}
	}
}

// TestStoredPolicyMemory: a policy in a Store costs about its body, however
// the body is cut into lines. Before, each extension field was a struct of
// two strings in a growing slice, and every field kept the whole body
// alive: a 64 KiB body of short extension lines took ~640 KiB of heap, so
// a store full of an attacker's policies took ten times their size. An mx
// pattern costs 24 bytes beyond its text (Policy.MX is a []Pattern). The
// heap is measured (runtime.MemStats after a GC, over many policies), not
// timed.
func TestStoredPolicyMemory(t *testing.T) {
	body := func(line func(i int) string) []byte {
		var b strings.Builder
		b.WriteString("version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n")
		for i := 0; ; i++ {
			l := line(i)
			if b.Len()+len(l) > 64<<10 {
				return []byte(b.String())
			}
			b.WriteString(l)
		}
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"short extension lines, LF", body(func(int) string { return "a:b\n" })},
		{"short extension lines, CRLF", body(func(int) string { return "e: v\r\n" })},
		{"long extension lines", body(func(int) string { return "ext: " + strings.Repeat("v", 200) + "\r\n" })},
		{"mx lines", body(func(i int) string { return fmt.Sprintf("mx: m%d.example.com\r\n", i) })},
		{"short mx lines", body(func(i int) string { return fmt.Sprintf("mx:%x\n", i) })},
	}
	const n = 40
	for _, tt := range tests {
		s := &MemoryStore{}
		p, err := ParsePolicy(tt.body)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			p, _ := ParsePolicy(tt.body)
			s.Put(context.Background(), fmt.Sprintf("d%d.example", i), Entry{Policy: p, ID: "x", Fetched: time.Now()})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(s)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		limit := int64(len(tt.body)) + 24*int64(len(p.MX)) + 4096
		est := Entry{Policy: p, ID: "x"}.size("d10.example")
		t.Logf("%s: body %d bytes, %d mx: %d bytes a stored policy (%.2fx the body; MaxBytes counts %d)", tt.name, len(tt.body), len(p.MX), per, float64(per)/float64(len(tt.body)), est)
		if per > limit {
			t.Errorf("%s: a stored policy of a %d-byte body costs %d bytes, over %d", tt.name, len(tt.body), per, limit)
		}
		if est < per*8/10 || est > per*12/10 {
			t.Errorf("%s: MaxBytes counts %d bytes for a policy that costs %d", tt.name, est, per)
		}
	}
}
