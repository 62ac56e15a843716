// Package tagrecord reads the "v=VERSION; key=value; ..." TXT records that
// MTA-STS (RFC 8461, Section 3.1) and SMTP TLS Reporting (RFC 8460, Section
// 3) publish: the same separators, field names and extension values, so
// that both packages split, pick and check them alike. The packages keep
// their own fields and errors.
package tagrecord

import "strings"

// Fields gives the fields of txt after version: txt must begin with
// version, then a separator (*WSP ";" *WSP); a separator at the end is
// allowed; each field comes trimmed of WSP, and at least one must be there.
// why says what is wrong (empty: nothing).
func Fields(txt, version string) (fields []string, why string) {
	rest, ok := strings.CutPrefix(txt, version)
	if !ok {
		return nil, `does not begin with "` + version + `"`
	}
	parts := strings.Split(rest, ";")
	if trimWSP(parts[0]) != "" {
		return nil, `"` + version + `" is not followed by ";"`
	}
	parts = parts[1:]
	// The optional separator at the end: the last part may be empty.
	if n := len(parts); n > 0 && trimWSP(parts[n-1]) == "" {
		parts = parts[:n-1]
	}
	if len(parts) == 0 {
		return nil, "no fields"
	}
	for i, p := range parts {
		parts[i] = trimWSP(p)
	}
	return parts, ""
}

// Select gives the records of txts that begin with version and a ";"
// (white space between): the others are not records of this kind and are
// discarded (RFC 8461, Section 3.1; RFC 8460, Section 3).
func Select(txts []string, version string) []string {
	var found []string
	for _, t := range txts {
		rest, ok := strings.CutPrefix(t, version)
		if ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
			found = append(found, t)
		}
	}
	return found
}

// ValidKey reports whether k is a field name: (ALPHA / DIGIT)
// *31(ALPHA / DIGIT / "_" / "-" / "."), the extension name of both
// grammars.
func ValidKey(k string) bool {
	if len(k) == 0 || len(k) > 32 || !IsAlnum(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !IsAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// ValidValue reports whether v is an extension value:
// 1*(%x21-3A / %x3C / %x3E-7E), no "=", ";", space or control character.
func ValidValue(v string) bool {
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

// IsAlnum reports whether c is an ASCII letter or digit.
func IsAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }
