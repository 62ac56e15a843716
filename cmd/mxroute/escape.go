package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// esc makes s safe for a terminal: every byte of input or DNS data that a
// terminal would act on, rather than show, is written as a Go escape. C0
// and C1 controls and DEL become \t, \n, \x1b, \u0085...; Unicode format
// characters (bidi overrides such as U+202E, zero-width ones) \u202e;
// bytes that are not UTF-8 \xff. Everything printable, U-labels included,
// is left as it is, backslashes too (DNS names already show their own
// escapes as \DDD), so a name reads as it was published. The JSON output
// is not escaped this way: encoding/json escapes controls itself and the
// value stays what was given.
func esc(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e', '\t'
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII, the common case.
func isPlain(s string) bool {
	for i := range len(s) {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// wrap splits s into lines of at most width columns at spaces; a word
// longer than width gets a line of its own.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
