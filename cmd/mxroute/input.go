package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// domainOf returns the domain of what an operator typed: an address such as
// postmaster@example.com gives the part after its last "@" (a quoted local
// part may hold "@" itself, RFC 5321 Section 4.1.2), and angle brackets
// pasted from a header, <postmaster@example.com>, are dropped. Anything
// else is the domain itself. isAddr reports whether it was an address.
func domainOf(query string) (domain string, isAddr bool) {
	s := query
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return query, false
	}
	return s[i+1:], true
}

// label names a query in text output: the domain, followed by the address
// it came from ("example.com (for postmaster@example.com)"), escaped for
// the terminal.
func label(query string) string {
	domain, isAddr := domainOf(query)
	if !isAddr {
		return esc(query)
	}
	return esc(domain) + " (for " + esc(query) + ")"
}

// maxLine is the longest --from line read: far above any address (RFC 5321
// allows 64 octets of local part and 255 of domain) and a sign of the wrong
// file when exceeded.
const maxLine = 64 * 1024

// stripComment removes a "#" comment from a --from line: one that starts
// the line or follows a space or tab, as in Postfix's table files and the
// shell. A "#" inside a word is kept: RFC 5321, Section 4.1.2's atext
// includes it, so ops#oncall@example.com is an address, not "ops".
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

// readDomains reads one domain (or address) a line; blank lines and "#"
// comments are skipped (see stripComment). A line longer than maxLine is a usage error naming
// the line.
func readDomains(file string, stdin io.Reader) ([]string, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := stripComment(sc.Text())
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &usageError{fmt.Sprintf("--from %s: line %d is longer than %d bytes: not a domain or address per line", file, n+1, maxLine)}
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}
