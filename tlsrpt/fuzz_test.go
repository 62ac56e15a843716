package tlsrpt

import (
	"strings"
	"testing"
)

// FuzzParseRecord: no input panics; a record that parses prints as one that
// parses back to the same, with only mailto addresses that are addresses.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=TLSRPTv1;rua=mailto:reports@example.com",
		"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt",
		"v=TLSRPTv1 ; rua=mailto:a@example.com%2Cb@example.com , https://r.example/x; ext=1;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		r, err := ParseRecord(txt)
		if err != nil {
			return
		}
		if len(r.RUA) == 0 {
			t.Fatalf("%q: parsed with no rua URI", txt)
		}
		again, err := ParseRecord(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q: String %q does not parse back: %v", txt, r.String(), err)
		}
		for _, a := range r.Mailto() {
			if !strings.Contains(a, "@") {
				t.Fatalf("%q: mailto address %q", txt, a)
			}
		}
	})
}
