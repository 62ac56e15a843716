package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// manyDomains lists n domains of the vega zones, routed, bounced and deferred.
func manyDomains(n int) []string {
	kinds := []string{"vega.ru", "vega-gw.vega.ru", "www.vega.ru", "nowhere%d.vega.ru", "relarn.ru"}
	out := make([]string, n)
	for i := range out {
		k := kinds[i%len(kinds)]
		if strings.Contains(k, "%d") {
			k = fmt.Sprintf(k, i)
		}
		out[i] = k
	}
	return out
}

// --from routes concurrently but writes in input order, whatever the number
// of workers; "-" reads stdin; comments and blank lines are skipped.
func TestFromFile(t *testing.T) {
	t.Parallel()
	domains := manyDomains(60)
	file := writeFile(t, "domains", "# a comment\n\n"+strings.Join(domains, "\n")+"  # trailing comment\n")
	serial := runBinary(t, args(list("route", "--seed", "1", "--workers", "1"), vegaZones, domains)...)
	require.Equal(t, 69, serial.status, serial.stderr)
	for _, w := range []string{"1", "4", "32"} {
		fromFile := runBinary(t, args(list("route", "--seed", "1", "--workers", w, "--from", file), vegaZones)...)
		assert.Equal(t, serial.stdout, fromFile.stdout, "--workers %s: input order", w)
		assert.Equal(t, serial.status, fromFile.status)
		assert.Empty(t, fromFile.stderr, "auto progress is off when stderr is not a terminal")
	}
	stdin := runStdin(t, strings.Join(domains, "\n"), args(list("route", "--seed", "1", "--from", "-"), vegaZones)...)
	assert.Equal(t, serial.stdout, stdin.stdout, "- reads stdin")

	both := runBinary(t, args(list("route", "--seed", "1", "--from", file), vegaZones, list("vega.ru"))...)
	assert.True(t, strings.HasPrefix(both.stdout, "vega.ru\n"), "arguments come first, then the file")

	empty := runBinary(t, args(list("route", "--from", writeFile(t, "empty", "# nothing\n")), vegaZones)...)
	assert.Equal(t, 64, empty.status, "no domain at all is a usage error")
}

func TestProgress(t *testing.T) {
	t.Parallel()
	domains := manyDomains(25)
	file := writeFile(t, "domains", strings.Join(domains, "\n"))
	on := runBinary(t, args(list("route", "--progress", "on", "--from", file, "--workers", "8"), vegaZones)...)
	assert.Equal(t, "mxroute: 3/25 domains\nmxroute: 5/25 domains\nmxroute: 8/25 domains\nmxroute: 10/25 domains\n"+
		"mxroute: 13/25 domains\nmxroute: 15/25 domains\nmxroute: 18/25 domains\nmxroute: 20/25 domains\n"+
		"mxroute: 23/25 domains\nmxroute: 25/25 domains\n", on.stderr, "a line at each tenth, in output order")
	off := runBinary(t, args(list("lint", "--progress", "off", "--from", file), vegaZones)...)
	assert.Empty(t, off.stderr)
	lint := runBinary(t, args(list("lint", "--progress", "on", "--from", file), vegaZones)...)
	assert.Contains(t, lint.stderr, "mxroute: 25/25 domains\n", "lint reports progress too")
}

// On a terminal the progress rewrites one line and ends it when done.
func TestProgressTerminal(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	p := &progress{w: &b, total: 3, terminal: true}
	for i := 1; i <= 3; i++ {
		p.step(i)
	}
	assert.Equal(t, "\rmxroute: 1/3 domains\rmxroute: 2/3 domains\rmxroute: 3/3 domains\n", b.String())
	var none *progress
	none.step(1) // no progress: a nil *progress does nothing
	assert.Nil(t, newProgress("auto", true, 3, &b, &b), "auto: not a terminal, no progress")
	assert.Nil(t, newProgress("off", true, 3, &b, &b))
	require.NotNil(t, newProgress("on", false, 3, &b, &b))
}

// One Cache serves the whole run: the output is the same with and without
// it (--no-cache), for every command and any number of workers.
func TestBatchCacheSameOutput(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "domains", strings.Join(manyDomains(40), "\n"))
	runs := []struct {
		name string
		args []string
	}{
		{"route", args(list("route", "--seed", "1", "--from", file), vegaZones)},
		{"explain", args(list("explain", "--seed", "1", "--from", file), vegaZones)},
		{"route json", args(list("route", "--json", "--seed", "1", "--from", file), vegaZones)},
		{"lint", args(list("lint", "--from", lintDomain), lintZone)},
	}
	for _, r := range runs {
		for _, workers := range []string{"1", "8"} {
			cached := runBinary(t, append(r.args, "--workers", workers)...)
			uncached := runBinary(t, append(r.args, "--workers", workers, "--no-cache")...)
			assert.Equal(t, uncached.status, cached.status, "%s, %s workers", r.name, workers)
			assert.Equal(t, uncached.stdout, cached.stdout, "%s, %s workers", r.name, workers)
			assert.Empty(t, cached.stderr)
		}
	}
}

// Domains that share mail hosts ask for each host once through the run's
// Cache; --no-cache asks for it per domain. Counted at a loopback server.
func TestBatchCacheAsksLess(t *testing.T) {
	t.Parallel()
	var questions atomic.Int64
	h := zoneHandler(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone")
	server := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		questions.Add(1)
		h.ServeDNS(w, req)
	}))
	// Three domains with the same three mail hosts, each listed twice.
	file := writeFile(t, "domains", strings.Repeat("vega.ru\nwww.vega.ru\nvega-gw.vega.ru\n", 2))
	count := func(extra ...string) (result, int64) {
		before := questions.Load()
		res := runBinary(t, append(list("route", "--seed", "1", "--server", server, "--from", file), extra...)...)
		require.Equal(t, 0, res.status, res.stderr)
		return res, questions.Load() - before
	}
	for _, workers := range []string{"1", "4"} {
		uncached, nUncached := count("--workers", workers, "--no-cache")
		cached, nCached := count("--workers", workers)
		assert.Equal(t, uncached.stdout, cached.stdout, "%s workers: the same routes", workers)
		// Distinct questions: MX of vega.ru, www.vega.ru (a CNAME: vega.ru
		// is then asked by its own name, already known) and vega-gw.vega.ru;
		// A and AAAA of vega-gw.vega.ru, ns.relarn.ru, relay.relarn.ru.
		t.Logf("%s workers: %d questions without the cache, %d with it", workers, nUncached, nCached)
		assert.Less(t, nCached, nUncached, "%s workers: shared hosts asked once", workers)
		assert.LessOrEqual(t, nCached, int64(9), "%s workers: each distinct question at most once", workers)
	}
}
