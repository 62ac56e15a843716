package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// storeDay is the day the store tests count in.
var storeDay = Day{2024, 3, 1}

// testKeys are keys of every shape: a success, failures told apart by one
// detail each, another policy, another domain, another day, and a key whose
// fields hold what a store must keep exactly (a 64 KiB policy line, UTF-8,
// IPv6).
func testKeys() []Key {
	sts := STS("example.com", "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n")
	fail := Key{Day: storeDay, Policy: sts, Result: CertificateExpired, SendingIP: netip.MustParseAddr("192.0.2.1"),
		ReceivingIP: netip.MustParseAddr("198.51.100.25"), MXHost: "mx1.example.com", HELO: "mx1.example.com"}
	helo := fail
	helo.HELO = "other.example.net"
	reason := fail
	reason.Result, reason.ReasonCode = ValidationFailure, "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
	long := Key{Day: storeDay, Policy: STS("example.com", "version: STSv1\nx: "+strings.Repeat("y", 65536)),
		Result: STSPolicyInvalid, SendingIP: netip.MustParseAddr("2001:db8::1"), HELO: "mx.exämple.com ✓",
		AdditionalInfo: "https://r.example/?id=1#x"}
	return []Key{
		{Day: storeDay, Policy: sts},
		fail, helo, reason, long,
		{Day: storeDay, Policy: TLSA("mx1.example.com", []string{"3 1 1 abcd"}), Result: TLSAInvalid},
		{Day: storeDay, Policy: NoPolicy("example.org")},
		{Day: storeDay, Policy: NoPolicy("example.org"), Result: StartTLSNotSupported, ReceivingIP: netip.MustParseAddr("203.0.113.9")},
		{Day: storeDay.AddDays(1), Policy: sts},
	}
}

// testStore runs the Store contract against s, which must be empty.
func testStore(t *testing.T, s Store) {
	ctx := t.Context()
	keys := testKeys()
	for i, k := range keys {
		for j := 0; j <= i; j++ { // key i counts i+1, in steps of 1 and 2
			n := int64(1)
			if j < i {
				n, j = 2, j+1
			}
			if err := s.Add(ctx, k, n); err != nil {
				t.Fatalf("Add %d: %v", i, err)
			}
		}
	}
	want := func(day Day, domain string) map[string]int64 {
		m := map[string]int64{}
		for i, k := range keys {
			if k.Day == day && (domain == "" || k.Policy.Domain == domain) {
				m[fullID(k)] = int64(i + 1)
			}
		}
		return m
	}
	check := func(day Day, domain string, why string) {
		t.Helper()
		cs, err := s.Counters(ctx, day, domain)
		if err != nil {
			t.Errorf("Counters(%s, %q): %v", day, domain, err)
		}
		got := map[string]int64{}
		for _, c := range cs {
			got[fullID(c.Key)] += c.N
			for i, k := range keys {
				if fullID(k) == fullID(c.Key) && !sameKey(k, c.Key) {
					t.Errorf("key %d read back as %+v, added as %+v", i, c.Key, k)
				}
			}
		}
		if w := want(day, domain); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("Counters(%s, %q) = %v, want %v (%s)", day, domain, got, w, why)
		}
	}
	check(storeDay, "example.com", "one domain's counters of a day, each exact")
	check(storeDay, "", "every domain of a day")
	check(storeDay.AddDays(1), "example.com", "another day")
	check(storeDay.AddDays(2), "", "a day with nothing")

	pending := func(before Day) string {
		t.Helper()
		p, err := s.Pending(ctx, before)
		if err != nil {
			t.Errorf("Pending(%s): %v", before, err)
		}
		var out []string
		for _, dd := range p {
			out = append(out, dd.Day.String()+" "+dd.Domain)
		}
		slices.Sort(out)
		return strings.Join(out, ", ")
	}
	if got := pending(storeDay); got != "" {
		t.Errorf("Pending(%s) = %q: nothing is due before the first day", storeDay, got)
	}
	if got, want := pending(storeDay.AddDays(1)), "2024-03-01 example.com, 2024-03-01 example.org, 2024-03-01 mx1.example.com"; got != want {
		t.Errorf("Pending(the next day) = %q, want %q", got, want)
	}
	if got, want := pending(storeDay.AddDays(2)), "2024-03-01 example.com, 2024-03-01 example.org, 2024-03-01 mx1.example.com, 2024-03-02 example.com"; got != want {
		t.Errorf("Pending(two days on) = %q, want %q", got, want)
	}

	if err := s.Delete(ctx, storeDay, "example.com"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Counters(ctx, storeDay, "example.com"); len(cs) != 0 {
		t.Errorf("%d counters of example.com left after Delete", len(cs))
	}
	if cs, _ := s.Counters(ctx, storeDay, "example.org"); len(cs) != 2 {
		t.Errorf("Delete of example.com took example.org's counters: %d left", len(cs))
	}
	if err := s.Delete(ctx, storeDay, ""); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Counters(ctx, storeDay, ""); len(cs) != 0 {
		t.Errorf("%d counters of the day left after Delete of every domain", len(cs))
	}
	check(storeDay.AddDays(1), "", "Delete of one day keeps the next")

	for _, bad := range []Key{
		{Policy: NoPolicy("example.com")},
		{Day: storeDay, Policy: NoPolicy("")},
		{Day: storeDay, Policy: NoPolicy("Example.com")},
		{Day: storeDay, Policy: Policy{Type: "dmarc", Domain: "example.com"}},
		{Day: storeDay, Policy: NoPolicy("example.com"), Result: "certificate-revoked"},
		{Day: Day{2024, 2, 30}, Policy: NoPolicy("example.com")},
	} {
		if err := s.Add(ctx, bad, 1); !errors.Is(err, ErrBadKey) {
			t.Errorf("Add(%+v): %v, want ErrBadKey", bad, err)
		}
	}
}

// fullID names a counter across days and domains.
func fullID(k Key) string { return k.Day.String() + " " + k.Policy.Domain + " " + k.id() }

// sameKey compares keys, nil and empty slices alike.
func sameKey(a, b Key) bool {
	return a.Day == b.Day && a.Policy.Type == b.Policy.Type && a.Policy.Domain == b.Policy.Domain &&
		slices.Equal(a.Policy.String, b.Policy.String) && slices.Equal(a.Policy.MXHost, b.Policy.MXHost) &&
		a.Result == b.Result && a.SendingIP == b.SendingIP && a.ReceivingIP == b.ReceivingIP &&
		a.MXHost == b.MXHost && a.HELO == b.HELO && a.AdditionalInfo == b.AdditionalInfo && a.ReasonCode == b.ReasonCode
}

// testConcurrent has writers add to the same keys at once, each key new to
// all of them at first, and checks that no count is lost.
func testConcurrent(t *testing.T, s Store, writers, each int) {
	ctx := context.Background()
	const perKey = 4 // each writer adds to each key this many times
	nKeys := each / perKey
	key := func(i int) Key {
		k := Key{Day: storeDay, Policy: NoPolicy(fmt.Sprintf("d%d.example", i%3)), Result: StartTLSNotSupported,
			ReceivingIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), HELO: fmt.Sprint("mx", i)}
		if i%5 == 0 {
			k.Result, k.ReceivingIP, k.HELO = "", netip.Addr{}, fmt.Sprint("success", i)
		}
		return k
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < nKeys*perKey; j++ {
				if err := s.Add(ctx, key(j%nKeys), 1); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cs, err := s.Counters(ctx, storeDay, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var total int64
	for _, c := range cs {
		got[c.id()] = c.N
		total += c.N
	}
	if want := int64(writers * nKeys * perKey); total != want || len(got) != nKeys {
		t.Errorf("%d counts in %d counters, want %d in %d: concurrent Adds lost counts", total, len(got), want, nKeys)
	}
	for i := 0; i < nKeys; i++ {
		if n := got[key(i).id()]; n != int64(writers*perKey) {
			t.Errorf("key %d counts %d, want %d", i, n, writers*perKey)
		}
	}
}

// TestMemoryStore: the Store contract.
func TestMemoryStore(t *testing.T) {
	testStore(t, &MemoryStore{})
}

// TestMemoryStoreConcurrent: 8 writers, no count lost.
func TestMemoryStoreConcurrent(t *testing.T) {
	testConcurrent(t, &MemoryStore{}, 8, 2000)
}

// TestMemoryStoreMax: past MaxCounters a new counter is refused, existing
// ones still count, and a Delete makes room.
func TestMemoryStoreMax(t *testing.T) {
	ctx := t.Context()
	s := &MemoryStore{MaxCounters: 2}
	keys := testKeys()
	for _, k := range keys[:2] {
		if err := s.Add(ctx, k, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add(ctx, keys[2], 1); !errors.Is(err, ErrStoreFull) {
		t.Errorf("a third counter: %v, want ErrStoreFull", err)
	}
	if err := s.Add(ctx, keys[0], 1); err != nil {
		t.Errorf("an existing counter refused when full: %v", err)
	}
	if err := s.Delete(ctx, storeDay, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, keys[2], 1); err != nil {
		t.Errorf("no room after Delete: %v", err)
	}
}
