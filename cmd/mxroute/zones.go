package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// loadZones reads master files into one ZoneResolver. A file's origin is its
// name without a .zone or .db suffix ("vega.ru.zone" is vega.ru), unless the
// file sets $ORIGIN before its first record: then that $ORIGIN is the
// origin. Either way, a first $ORIGIN that differs from the name's origin
// gets one note naming both. SOA records in the file take precedence for
// the zone's apex. A zone loaded twice names the file that loaded it first.
func loadZones(files []string) (*mxroute.ZoneResolver, []string, error) {
	var z *mxroute.ZoneResolver
	var notes []string
	loadedBy := map[string]string{} // apex → file
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		origin := dns.Fqdn(strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(filepath.Base(file), ".zone"), ".db")))
		fileOrigin, line, leading := firstOrigin(data)
		relative := fileOrigin != "" && !dns.IsFqdn(fileOrigin)
		if relative { // relative to the origin so far (RFC 1035, Section 5.1)
			fileOrigin += "." + origin
		}
		fileOrigin = strings.ToLower(fileOrigin)
		mismatch := ""
		if fileOrigin != "" && fileOrigin != origin {
			switch {
			case relative:
				// The file builds on its name's origin: the parser must
				// see that one to place the $ORIGIN under it.
				mismatch = fmt.Sprintf("%s: $ORIGIN %s (line %d) is relative to %s, the origin its file name gives", file, fileOrigin, line, origin)
			case leading:
				mismatch = fmt.Sprintf("%s: origin %s from its $ORIGIN (line %d), not %s from its file name", file, fileOrigin, line, origin)
				origin = fileOrigin
			default:
				mismatch = fmt.Sprintf("%s: $ORIGIN %s (line %d) differs from %s, the origin its file name gives to the names before line %d", file, fileOrigin, line, origin, line)
			}
		}
		apex := zoneApex(data, origin)
		if first, dup := loadedBy[apex]; dup {
			return nil, nil, fmt.Errorf("%s: zone %s is already loaded from %s", file, apex, first)
		}
		if z == nil {
			z, err = mxroute.NewZoneResolver(bytes.NewReader(data), origin)
		} else {
			err = z.Add(bytes.NewReader(data), origin)
		}
		if err != nil {
			if mismatch != "" {
				return nil, nil, fmt.Errorf("%s: %w", mismatch, err)
			}
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		loadedBy[apex] = file
		if mismatch != "" {
			notes = append(notes, "note: "+mismatch)
		}
	}
	return z, notes, nil
}

// firstOrigin returns the name of a master file's first $ORIGIN directive,
// its line, and whether it comes before the first record.
func firstOrigin(data []byte) (name string, line int, leading bool) {
	leading = true
	for i, l := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(l, ';'); j >= 0 {
			l = l[:j]
		}
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case strings.EqualFold(f[0], "$ORIGIN") && len(f) > 1:
			return f[1], i + 1, leading
		case !strings.HasPrefix(f[0], "$"):
			leading = false
		}
	}
	return "", 0, false
}

// zoneApex is the apex ZoneResolver gives a file: its SOA's owner, or the
// origin. A file that does not parse gets the origin (the library reports
// the parse error).
func zoneApex(data []byte, origin string) string {
	zp := dns.NewZoneParser(bytes.NewReader(data), origin, "")
	zp.SetIncludeAllowed(false)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			return strings.ToLower(soa.Hdr.Name)
		}
	}
	return strings.ToLower(origin)
}
