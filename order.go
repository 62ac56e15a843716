package mxroute

// Host order: MX preference ascending, equal preferences shuffled
// (RFC 5321, Section 5.1), reproducibly with a seeded Router.Rand.

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
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
// RRset into. Each run shuffled is reported.
func sortHosts(ctx context.Context, tr tracer, hosts []*mxHost, rng *rand.Rand) {
	slices.SortFunc(hosts, func(a, b *mxHost) int {
		return cmp.Or(cmp.Compare(a.pref, b.pref), cmp.Compare(a.name, b.name))
	})
	for i, j := 0, 0; i < len(hosts); i = j {
		if j = tieEnd(hosts, i); j-i > 1 {
			var sorted []string
			if tr.on() {
				sorted = namesOf(hosts[i:j])
			}
			shuffle(hosts[i:j], rng)
			if tr.on() {
				tr.emit(ctx, Event{Step: StepShuffle, Preference: hosts[i].pref, Rule: ruleRFC5321, Count: j - i,
					Message: fmt.Sprintf("%s share preference %d: shuffled into %s", joinAnd(sorted), hosts[i].pref,
						strings.Join(namesOf(hosts[i:j]), ", "))})
			}
		}
	}
}

// namesOf returns the names of hosts, in order.
func namesOf(hosts []*mxHost) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.name
	}
	return names
}

// tieEnd returns the end of the run of hosts (sorted by preference) that
// share the preference of hosts[i]: the hosts RFC 5321 has shuffled, the
// loop guard drops together, and MaxHosts takes together.
func tieEnd(hosts []*mxHost, i int) int {
	j := i + 1
	for j < len(hosts) && hosts[j].pref == hosts[i].pref {
		j++
	}
	return j
}

// tieStart returns the start of that run.
func tieStart(hosts []*mxHost, i int) int {
	j := i
	for j > 0 && hosts[j-1].pref == hosts[i].pref {
		j--
	}
	return j
}

// randLocks serialise the shuffles drawn from one *rand.Rand, which is not
// safe for concurrent use, so that a Router may route from many goroutines.
// The lock follows the Rand, not the Router value: copies of a Router share
// its Rand and so must share its lock, and Routers with different Rands do
// not wait for each other (but for the rare two whose Rands hash to one
// stripe, held for one shuffle). No field in Router: it stays copyable
// before use, its zero value ready, and go vet's copylocks quiet.
var randLocks [64]struct {
	sync.Mutex
	_ [56]byte // one lock per cache line
}

var randLockSeed = maphash.MakeSeed()

// randLock returns the lock of rng's shuffles: one of randLocks, chosen by
// the Rand's address.
func randLock(rng *rand.Rand) *sync.Mutex {
	return &randLocks[maphash.Comparable(randLockSeed, rng)%uint64(len(randLocks))].Mutex
}

func shuffle(hosts []*mxHost, rng *rand.Rand) {
	swap := func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] }
	if rng == nil {
		rand.Shuffle(len(hosts), swap) // the global source is safe for concurrent use
		return
	}
	mu := randLock(rng)
	mu.Lock()
	rng.Shuffle(len(hosts), swap)
	mu.Unlock()
}

// joinAnd joins names as "a and b" or "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
