package mtasts

import (
	"fmt"
	"strings"
)

// Record is a parsed _mta-sts TXT record (RFC 8461, Section 3.1).
type Record struct {
	// ID identifies the policy: 1 to 32 letters and digits; a changed id
	// means a changed policy.
	ID string
	// Extensions are the other fields, in order; senders ignore them.
	Extensions []Extension
}

// Extension is a field the RFC does not define, kept as it was.
type Extension struct {
	Key, Value string
}

// ParseRecord parses one TXT record, its strings already concatenated
// without spaces (Section 3.1: "the record MUST be treated as if those
// strings are concatenated"). The grammar:
//
//	sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep]
//	sts-version     = %s"v=STSv1"
//	sts-sep         = *WSP %x3B *WSP
//	sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//	sts-extension   = sts-ext-name "=" sts-ext-value
//
// An id given twice counts once, the first time. Trailing white space is
// tolerated. Errors wrap ErrRecordSyntax and quote the input.
func ParseRecord(txt string) (*Record, error) {
	fail := func(why string) (*Record, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrRecordSyntax, txt, why)
	}
	rest, ok := strings.CutPrefix(txt, "v=STSv1")
	if !ok {
		return fail(`does not begin with "v=STSv1"`)
	}
	parts := strings.Split(rest, ";")
	if strings.Trim(parts[0], " \t") != "" {
		return fail(`"v=STSv1" is not followed by ";"`)
	}
	parts = parts[1:]
	// [sts-sep] at the end: the last part may be empty.
	if n := len(parts); n > 0 && strings.Trim(parts[n-1], " \t") == "" {
		parts = parts[:n-1]
	}
	if len(parts) == 0 {
		return fail("no fields")
	}
	r := &Record{}
	for _, p := range parts {
		p = strings.Trim(p, " \t")
		k, v, ok := strings.Cut(p, "=")
		if !ok || !validKey(k) || !validRecordValue(v) {
			return fail(fmt.Sprintf("malformed field %q", p))
		}
		if k == "id" {
			if !validID(v) {
				return fail(fmt.Sprintf("id %q is not 1 to 32 letters and digits", v))
			}
			if r.ID == "" {
				r.ID = v
			}
			continue
		}
		r.Extensions = append(r.Extensions, Extension{Key: k, Value: v})
	}
	if r.ID == "" {
		return fail("no id field")
	}
	return r, nil
}

// String gives the record as it would be published.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString("v=STSv1; id=" + r.ID + ";")
	for _, e := range r.Extensions {
		b.WriteString(" " + e.Key + "=" + e.Value + ";")
	}
	return b.String()
}

// FindRecord picks the domain's record out of the TXT records at
// _mta-sts.<domain> (Section 3.1): records that do not begin with "v=STSv1"
// and a ";" are discarded; none left is ErrNoRecord, more than one
// ErrMultipleRecords, and the one left must parse.
func FindRecord(txts []string) (*Record, error) {
	var found []string
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, "v=STSv1")
		if ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(found[0])
	}
	return nil, fmt.Errorf("%w: %q", ErrMultipleRecords, found)
}

// validKey: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."), the
// extension name of both grammars (Sections 3.1 and 3.2).
func validKey(k string) bool {
	if len(k) == 0 || len(k) > 32 || !isAlnum(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validRecordValue: 1*(%x21-3A / %x3C / %x3E-7E), no "=", ";", space or
// control character.
func validRecordValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '=' || c == ';' {
			return false
		}
	}
	return true
}

func validID(v string) bool {
	if len(v) == 0 || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isAlnum(v[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
