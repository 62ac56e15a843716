package mtasts

import (
	"fmt"
	"strings"

	"github.com/mxroute-go/mxroute/internal/tagrecord"
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
	parts, why := tagrecord.Fields(txt, "v=STSv1")
	if why != "" {
		return fail(why)
	}
	r := &Record{}
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !tagrecord.ValidKey(k) || !tagrecord.ValidValue(v) {
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
	found := tagrecord.Select(txts, "v=STSv1")
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(found[0])
	}
	return nil, fmt.Errorf("%w: %q", ErrMultipleRecords, found)
}

func validID(v string) bool {
	if len(v) == 0 || len(v) > 32 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !tagrecord.IsAlnum(v[i]) {
			return false
		}
	}
	return true
}
