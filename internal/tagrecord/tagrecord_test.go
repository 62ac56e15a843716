package tagrecord

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFields(t *testing.T) {
	tests := []struct {
		txt    string
		fields []string
		why    string
		reason string
	}{
		{"v=X1; a=1", []string{"a=1"}, "", "one field"},
		{"v=X1;a=1;b=2;", []string{"a=1", "b=2"}, "", "a separator at the end is allowed"},
		{"v=X1 ;\ta=1 ; b=2", []string{"a=1", "b=2"}, "", "WSP around separators is trimmed"},
		{"v=X1; a=1;;", []string{"a=1", ""}, "", "only the last separator may end empty: the empty field is the caller's to refuse"},
		{"v=X1", nil, "no fields", "the version alone: no fields (as both parsers always said)"},
		{"v=X1;", nil, "no fields", "a separator and nothing"},
		{"v=X1x; a=1", nil, `"v=X1" is not followed by ";"`, "the version must end at the separator"},
		{" v=X1; a=1", nil, `does not begin with "v=X1"`, "nothing before the version"},
		{"V=X1; a=1", nil, `does not begin with "v=X1"`, "the version is case-sensitive"},
	}
	for _, tt := range tests {
		fields, why := Fields(tt.txt, "v=X1")
		assert.Equal(t, tt.fields, fields, tt.reason)
		assert.Equal(t, tt.why, why, tt.reason)
	}
}

func TestSelect(t *testing.T) {
	got := Select([]string{"v=X1; a=1", "v=X1 ;b=2", "v=X1", "v=X10; a=1", "other", "v=X1\t;"}, "v=X1")
	assert.Equal(t, []string{"v=X1; a=1", "v=X1 ;b=2", "v=X1\t;"}, got, "a record of the kind is the version and a \";\", WSP between")
}

func TestValid(t *testing.T) {
	for k, want := range map[string]bool{"a": true, "rua": true, "x_y-z.1": true, "": false, "_a": false,
		"a b": false, "abcdefghijklmnopqrstuvwxyz0123456": false, "abcdefghijklmnopqrstuvwxyz012345": true} {
		assert.Equal(t, want, ValidKey(k), "key %q", k)
	}
	for v, want := range map[string]bool{"1": true, "mailto:a@b.example": true, "": false, "a=b": false,
		"a;b": false, "a b": false, "a\x7f": false, "é": false} {
		assert.Equal(t, want, ValidValue(v), "value %q", v)
	}
}
