package mxroute

// Host order: MX preference ascending, equal preferences shuffled
// (RFC 5321, Section 5.1), reproducibly with a seeded Router.Rand.

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync"
)

// sortHosts orders mail hosts by ascending preference and randomizes each run
// of equal preference.
//
// RFC 5321, Section 5.1: MX preference "MUST be used in sorting ... Lower
// numbers are more preferred than higher ones. If there are multiple
// destinations with the same preference and there is no clear reason to
// favor one ..., then the sender-SMTP MUST randomize them to spread the load
// across multiple mail exchangers for a specific organization."
//
// The hosts are first put in a fixed order (preference, then name), so that a
// seeded Rand gives the same route whichever order the resolver rotated the
// RRset into.
func sortHosts(hosts []*mxHost, rng *rand.Rand) {
	slices.SortFunc(hosts, func(a, b *mxHost) int {
		return cmp.Or(cmp.Compare(a.pref, b.pref), cmp.Compare(a.name, b.name))
	})
	for i := 0; i < len(hosts); {
		j := i + 1
		for j < len(hosts) && hosts[j].pref == hosts[i].pref {
			j++
		}
		if j-i > 1 {
			shuffle(hosts[i:j], rng)
		}
		i = j
	}
}

// randMu guards the Router's *rand.Rand, which is not safe for concurrent
// use, so that one Router may route from many goroutines.
var randMu sync.Mutex

func shuffle(hosts []*mxHost, rng *rand.Rand) {
	swap := func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] }
	if rng == nil {
		rand.Shuffle(len(hosts), swap) // the global source is safe for concurrent use
		return
	}
	randMu.Lock()
	rng.Shuffle(len(hosts), swap)
	randMu.Unlock()
}
