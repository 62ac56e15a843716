package main

import "strings"

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
