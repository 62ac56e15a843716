package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A zone file whose $ORIGIN differs from its name gets one line naming
// both; a zone loaded twice names the file that loaded it first.
func TestZoneOrigin(t *testing.T) {
	t.Parallel()
	vega, err := os.ReadFile(zonesDir + "vega.ru.zone")
	require.NoError(t, err)
	renamed := writeFile(t, "vega.zone", string(vega)) // $ORIGIN vega.ru. before any record
	res := runBinary(t, args(list("route", "--seed", "1", "--zone", renamed, "--zone", zonesDir+"relarn.ru.zone", "vega.ru"))...)
	assert.Equal(t, 0, res.status, res.stderr)
	assert.Equal(t, "mxroute route: note: "+renamed+": origin vega.ru. from its $ORIGIN (line 5), not vega. from its file name\n", res.stderr)
	assert.Contains(t, res.stdout, "10    vega-gw.vega.ru  194.226.43.1     IPv4\n")

	noSOA := writeFile(t, "mail.zone", "$ORIGIN other.example.\n$TTL 3600\n@ IN MX 10 mx\nmx IN A 192.0.2.25\n")
	res = runBinary(t, "route", "--zone", noSOA, "other.example")
	assert.Equal(t, 0, res.status, "a leading $ORIGIN is the origin, SOA or not: %s", res.stderr)
	assert.Equal(t, "mxroute route: note: "+noSOA+": origin other.example. from its $ORIGIN (line 1), not mail. from its file name\n", res.stderr)

	relative := writeFile(t, "example.zone", "$ORIGIN Mail\n$TTL 3600\n@ IN MX 10 mx\nmx IN A 192.0.2.25\n")
	res = runBinary(t, "route", "--zone", relative, "mail.example")
	assert.Equal(t, 0, res.status, "a relative $ORIGIN is under the origin so far (RFC 1035, Section 5.1): %s", res.stderr)
	assert.Equal(t, "mxroute route: note: "+relative+": $ORIGIN mail.example. (line 1) is relative to example., the origin its file name gives\n", res.stderr)

	late := writeFile(t, "x.zone", "$TTL 60\nmx IN A 192.0.2.1\n$ORIGIN other.example.\n@ IN MX 10 mx.x.\n")
	res = runBinary(t, "route", "--zone", late, "other.example")
	assert.Equal(t, 66, res.status)
	assert.Equal(t, "mxroute route: "+late+`: $ORIGIN other.example. (line 3) differs from x., the origin its file name gives to the names before line 3: mxroute: zone "x.": record "other.example." is outside the zone`+"\n", res.stderr)

	twice := writeFile(t, "copy.zone", string(vega))
	res = runBinary(t, "route", "--zone", zonesDir+"vega.ru.zone", "--zone", twice, "vega.ru")
	assert.Equal(t, 66, res.status)
	assert.Equal(t, "mxroute route: "+twice+": zone vega.ru. is already loaded from "+zonesDir+"vega.ru.zone\n", res.stderr)
	res = runBinary(t, "route", "--zone", zonesDir+"vega.ru.zone", "--zone", zonesDir+"vega.ru.zone", "vega.ru")
	assert.Equal(t, 66, res.status)
	assert.Equal(t, "mxroute route: "+zonesDir+"vega.ru.zone: zone vega.ru. is already loaded from "+zonesDir+"vega.ru.zone\n", res.stderr)
}
