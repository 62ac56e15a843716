package mxroute

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/smtptest"
	"github.com/mxroute-go/mxroute/internal/testpki"
)

// t0 is the time of the schedule's cases, in Unix milliseconds.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).UnixMilli()

const (
	sec = int64(time.Second / time.Millisecond)
	mn  = 60 * sec
	hr  = 60 * mn
)

// state is a BackoffState from Unix milliseconds.
func state(failures int, first, last, retry int64, reason Failure) BackoffState {
	return BackoffState{Failures: failures, First: msTime(first), Last: msTime(last), Retry: msTime(retry), Reason: reason}
}

// scheduleCases are BackoffState.next's cases; every store must compute
// the same (testBackoffSchedule).
var scheduleCases = []struct {
	reason string
	old    BackoffState
	at     int64
	k      int64
	want   BackoffState
}{
	{"a first failure waits a minute", BackoffState{}, t0, 0,
		state(1, t0, t0, t0+mn, FailConnectTimeout)},
	{"failing again when due: the wait is as long as the failing, so the retry doubles",
		state(1, t0, t0, t0+mn, FailConnectTimeout), t0 + mn, 0,
		state(2, t0, t0+mn, t0+2*mn, FailConnectTimeout)},
	{"and doubles again", state(2, t0, t0+mn, t0+2*mn, FailConnectTimeout), t0 + 2*mn, 0,
		state(3, t0, t0+2*mn, t0+4*mn, FailConnectTimeout)},
	{"the wait is at most an hour", state(7, t0, t0+32*mn, t0+64*mn, FailConnectTimeout), t0 + 3*hr, 0,
		state(8, t0, t0+3*hr, t0+4*hr, FailConnectTimeout)},
	{"jitter shortens a wait by less than a quarter", BackoffState{}, t0, jitterSteps - 1,
		state(1, t0, t0, t0+mn-mn*(jitterSteps-1)/jitterDiv, FailConnectTimeout)},
	{"jitter on a capped wait", state(7, t0, t0+32*mn, t0+64*mn, FailConnectTimeout), t0 + 3*hr, 128,
		state(8, t0, t0+3*hr, t0+3*hr+hr-hr/8, FailConnectTimeout)},
	{"a burst of failures (deliveries in flight together) counts as one wait, not eight",
		state(1, t0, t0, t0+mn, FailConnectTimeout), t0 + 10, 0,
		state(2, t0, t0+10, t0+10+mn, FailConnectTimeout)},
	{"the retry never moves earlier", state(3, t0, t0+4*mn, t0+8*mn, FailConnectTimeout), t0 + 4*mn + sec, jitterSteps - 1,
		state(4, t0, t0+4*mn+sec, t0+8*mn, FailConnectTimeout)},
	{"nor stays more than an hour past the failure", state(3, t0, t0, t0+5*hr, FailConnectTimeout), t0 + mn, 0,
		state(4, t0, t0+mn, t0+2*mn, FailConnectTimeout)},
	{"a failure more than a day after the last starts afresh", state(5, t0, t0, t0+hr, FailConnectTimeout), t0 + 24*hr + 1, 0,
		state(1, t0+24*hr+1, t0+24*hr+1, t0+24*hr+1+mn, FailUnreachable)},
	{"a day to the millisecond still counts", state(5, t0, t0, t0+hr, FailConnectTimeout), t0 + 24*hr, 0,
		state(6, t0, t0+24*hr, t0+25*hr, FailUnreachable)},
	{"a failure reported late (another MTA's clock) keeps First and Last in order",
		state(2, t0, t0+2*mn, t0+4*mn, FailConnectTimeout), t0 - sec, 0,
		state(3, t0-sec, t0+2*mn, t0+4*mn, FailRefused)},
	{"a failure reported late, more than an hour before the retry, never brings the retry before the last failure",
		state(3, t0, t0+30*mn, t0+60*mn, FailConnectTimeout), t0 - 10*sec, 0,
		state(4, t0-10*sec, t0+30*mn, t0+60*mn, FailRefused)},
	{"a record of no failures counts as none", state(0, t0, t0, t0, FailConnectTimeout), t0 + hr, 0,
		state(1, t0+hr, t0+hr, t0+hr+mn, FailTLS)},
}

// TestBackoffNext checks the schedule case by case.
func TestBackoffNext(t *testing.T) {
	for _, tt := range scheduleCases {
		t.Run(tt.reason, func(t *testing.T) {
			got := tt.old.next(tt.at, tt.want.Reason, tt.k)
			assert.Equal(t, tt.want, got)
			assert.NoError(t, got.check(), "Next gives only states that parse")
		})
	}
}

// TestBackoffGrowsAndCaps follows an address that stays dead, retried each
// time it is due with a 30 s connect timeout, under random jitter: each
// wait is longer than the one before until the hour, never above it, never
// below three quarters of the unjittered wait.
func TestBackoffGrowsAndCaps(t *testing.T) {
	for run := range 50 {
		var s BackoffState
		at := time.UnixMilli(t0)
		var prev time.Duration
		capped := 0
		for i := range 20 {
			s = s.Next(at, FailConnectTimeout)
			wait := s.Retry.Sub(at)
			failing := max(at.Sub(s.First), time.Minute)
			unjittered := min(failing, time.Hour)
			require.LessOrEqual(t, wait, unjittered, "run %d, failure %d", run, i+1)
			require.Greater(t, wait, unjittered*3/4, "run %d, failure %d: jitter takes less than a quarter", run, i+1)
			if unjittered < time.Hour {
				if i > 1 {
					require.Greater(t, wait, prev, "run %d, failure %d: the wait grows", run, i+1)
				}
			} else {
				capped++
			}
			prev = wait
			at = s.Retry.Add(30 * time.Second)
		}
		assert.Equal(t, 20, s.Failures)
		assert.Greater(t, capped, 10, "the wait reaches the hour within ten failures")
	}
}

// TestBackoffJitterSpread: the first wait takes values across its range,
// so that a fleet does not come back at the same moment.
func TestBackoffJitterSpread(t *testing.T) {
	seen := map[bool]int{}
	for range 200 {
		w := BackoffState{}.Next(time.UnixMilli(t0), FailRefused).Retry.Sub(time.UnixMilli(t0))
		require.True(t, w > 45*time.Second && w <= time.Minute, "%v", w)
		seen[w > 52500*time.Millisecond]++
	}
	assert.Positive(t, seen[true], "some waits in the upper half of the range")
	assert.Positive(t, seen[false], "some in the lower half")
}

// TestBackoffCheck: what a store reads back must be a state Next can give.
func TestBackoffCheck(t *testing.T) {
	tests := []struct {
		reason string
		s      BackoffState
		want   string // in the error; "": valid
	}{
		{"a state Next gives", state(2, t0, t0+mn, t0+2*mn, FailConnectTimeout), ""},
		{"no failures", state(0, t0, t0, t0+mn, FailConnectTimeout), "0 failures"},
		{"first after last", state(1, t0+1, t0, t0+mn, FailConnectTimeout), "first failure"},
		{"a retry before the last failure", state(1, t0, t0, t0-1, FailConnectTimeout), "retry"},
		{"a retry more than an hour after it", state(1, t0, t0, t0+hr+1, FailConnectTimeout), "retry"},
		{"a failure that is never remembered", state(1, t0, t0, t0+mn, FailRejected), "reason rejected"},
		{"no failure at all", state(1, t0, t0, t0+mn, 0), "reason Failure(0)"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			err := tt.s.check()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, ErrBadBackoff)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// ap is an address with its port.
func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// inBackoff and due are states that defer an address, and that no longer
// do.
func inBackoff(reason Failure) BackoffState {
	now := time.Now().UnixMilli()
	return state(1, now, now, now+mn, reason)
}

func due() BackoffState {
	past := time.Now().UnixMilli() - 2*hr
	return state(3, past, past, past+mn, FailConnectTimeout)
}

// seededBackoff is a MemoryBackoff holding states.
func seededBackoff(states map[string]BackoffState) *MemoryBackoff {
	s := &MemoryBackoff{}
	for a, st := range states {
		s.put(ap(a), st)
	}
	return s
}

// traceSteps collects a Dialer's events of the steps given, as
// "step count host: message".
type traceSteps struct {
	mu     sync.Mutex
	events []Event
}

func (ts *traceSteps) trace(_ context.Context, e Event) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.events = append(ts.events, e)
}

// of returns the events of step s.
func (ts *traceSteps) of(s Step) []Event {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []Event
	for _, e := range ts.events {
		if e.Step == s {
			out = append(out, e)
		}
	}
	return out
}

// TestDialBackoffOrder: an address in backoff is tried after all the others,
// those in backoff in route order among themselves, and none is dropped.
func TestDialBackoffOrder(t *testing.T) {
	tests := []struct {
		reason  string
		stagger time.Duration
		states  map[string]BackoffState
		want    []string // the addresses dialled, in order
	}{
		{"nothing remembered: route order", 0, nil, []string{"21", "22", "23"}},
		{"MX 10 in backoff: tried last", 0, map[string]BackoffState{"192.0.2.21:25": inBackoff(FailConnectTimeout)},
			[]string{"22", "23", "21"}},
		{"MX 10 and MX 20 in backoff: after MX 30, in their route order", 0,
			map[string]BackoffState{"192.0.2.21:25": inBackoff(FailConnectTimeout), "192.0.2.22:25": inBackoff(FailRefused)},
			[]string{"23", "21", "22"}},
		{"MX 20 and MX 10 remembered in the other order: route order still", 0,
			map[string]BackoffState{"192.0.2.22:25": inBackoff(FailRefused), "192.0.2.21:25": inBackoff(FailConnectTimeout)},
			[]string{"23", "21", "22"}},
		{"every address in backoff: all tried, in route order (RFC 5321, Section 4.5.4.1: deferred, never dropped)", 0,
			map[string]BackoffState{"192.0.2.21:25": inBackoff(FailConnectTimeout), "192.0.2.22:25": inBackoff(FailTLS),
				"192.0.2.23:25": inBackoff(FailUnreachable)},
			[]string{"21", "22", "23"}},
		{"MX 10's backoff is over: route order", 0, map[string]BackoffState{"192.0.2.21:25": due()}, []string{"21", "22", "23"}},
		{"MX 10 remembered on another port: not the address dialled", 0,
			map[string]BackoffState{"192.0.2.21:2525": inBackoff(FailConnectTimeout)}, []string{"21", "22", "23"}},
		{"with Stagger too", 50 * time.Millisecond, map[string]BackoffState{"192.0.2.21:25": inBackoff(FailConnectTimeout)},
			[]string{"22", "23", "21"}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t) // no address is mapped: each fails at once, unreachable
			d.Stagger = tt.stagger
			d.Backoff = seededBackoff(tt.states)
			_, err := d.Dial(t.Context(), "three.test")
			var e *Error
			require.ErrorAs(t, err, &e)
			var want []string
			for _, a := range tt.want {
				want = append(want, "tcp4 192.0.2."+a+":25")
			}
			assert.Equal(t, want, n.dialed())
			assert.Len(t, e.Attempts, 3, "nothing dropped")
		})
	}
}

// TestDialBackoffOnlyAddress: a domain whose only address is in backoff is
// still tried, and its greeting clears it.
func TestDialBackoffOnlyAddress(t *testing.T) {
	d, n := dialTest(t)
	var ts traceSteps
	d.Router.Trace = ts.trace
	store := seededBackoff(map[string]BackoffState{"192.0.2.1:25": inBackoff(FailConnectTimeout)})
	d.Backoff = store
	n.set("192.0.2.1:25", smtptest.Serve(t, smtptest.Greet("220 mx.one.test")).Addr)
	c, err := d.Dial(t.Context(), "one.test")
	require.NoError(t, err)
	quit(t, c)
	st, _ := store.Get(t.Context(), ap("192.0.2.1:25"))
	assert.Zero(t, st, "a greeting clears the address")
	ev := ts.of(StepBackoff)
	require.Len(t, ev, 2)
	assert.Contains(t, ev[0].Message, "mx.one.test [192.0.2.1] port 25 in backoff for")
	assert.Contains(t, ev[0].Message, "tried after the others")
	assert.Equal(t, 1, ev[0].Count)
	assert.Contains(t, ev[1].Message, "attempt 1: mx.one.test [192.0.2.1] port 25 greeted: forgotten (1 failure(s) since")
	assert.Zero(t, ev[1].Count)
	for _, e := range ev {
		assert.Equal(t, ruleBackoff, e.Rule)
		assert.Equal(t, "one.test", e.Domain)
		assert.NoError(t, e.Err)
	}
}

// TestDialBackoffRecords: what each way of failing leaves in the store, and
// what the next Dial does with it: MX 10 fails as the case says, MX 20
// greets; a remembered MX 10 is tried after MX 20 next time, so it is not
// dialled at all then.
func TestDialBackoffRecords(t *testing.T) {
	tests := []struct {
		reason   string
		play     smtptest.Behaviour        // MX 10's server, or
		addr     func(t testing.TB) string // its address ("": no route)
		startTLS bool
		failure  Failure
		kept     bool
	}{
		{reason: "refused: kept, as Exim and Postfix count it (a host error)", addr: smtptest.ClosedPort, failure: FailRefused, kept: true},
		{reason: "a blackhole: kept", addr: blackhole, failure: FailConnectTimeout, kept: true},
		{reason: "unreachable: kept", addr: func(testing.TB) string { return "" }, failure: FailUnreachable, kept: true},
		{reason: "no greeting in time: kept", play: smtptest.Silent(), failure: FailGreetingTimeout, kept: true},
		{reason: "no reply to EHLO in time: kept", play: smtptest.Greet("220 mx1.two.test"), startTLS: true,
			failure: FailReplyTimeout, kept: true},
		{reason: "a 421 greeting: not kept (fast, and often gone a moment later)", play: smtptest.Greet("421 busy"), failure: FailRejected},
		{reason: "a reset: not kept", play: smtptest.Reset(), failure: FailDropped},
		{reason: "no SMTP: not kept", play: smtptest.Greet("SSH-2.0-OpenSSH_9.6"), failure: FailMalformed},
		{reason: "EHLO refused: not kept", play: smtptest.Converse("220 mx1.two.test", func(string) string { return "554 no\r\n" }, nil),
			startTLS: true, failure: FailHello},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			d.ConnectTimeout, d.GreetingTimeout = 300*time.Millisecond, 300*time.Millisecond
			if tt.startTLS {
				d.StartTLS, d.Hello, d.HelloTimeout = true, "client.test", 300*time.Millisecond
			}
			store := &MemoryBackoff{}
			d.Backoff = store
			if tt.play != nil {
				n.set("192.0.2.11:25", smtptest.Serve(t, tt.play).Addr)
			} else if real := tt.addr(t); real != "" {
				n.set("192.0.2.11:25", real)
			}
			mx2 := smtptest.Serve(t, smtptest.Converse("220 mx2.two.test", func(string) string { return "250 ok\r\n" }, nil))
			n.set("192.0.2.12:25", mx2.Addr)
			before := time.Now()
			c, err := d.Dial(t.Context(), "two.test")
			require.NoError(t, err)
			quit(t, c)
			require.Len(t, c.Attempts, 1)
			require.Equal(t, tt.failure, c.Attempts[0].Failure, "%v", c.Attempts[0].Err)

			st, err := store.Get(t.Context(), ap("192.0.2.11:25"))
			require.NoError(t, err)
			mx2st, _ := store.Get(t.Context(), ap("192.0.2.12:25"))
			assert.Zero(t, mx2st, "a greeting records nothing")
			if !tt.kept {
				assert.Zero(t, st)
			} else {
				assert.Equal(t, 1, st.Failures)
				assert.Equal(t, tt.failure, st.Reason)
				assert.True(t, st.Deferred(time.Now()))
				assert.False(t, st.Last.Before(before.Truncate(time.Millisecond)))
			}

			c, err = d.Dial(t.Context(), "two.test")
			require.NoError(t, err)
			quit(t, c)
			assert.Equal(t, "mx2.two.test", c.Target.Host)
			if tt.kept {
				assert.Empty(t, c.Attempts, "MX 10 waits behind MX 20, which greets")
				assert.Equal(t, []string{"tcp4 192.0.2.11:25", "tcp4 192.0.2.12:25", "tcp4 192.0.2.12:25"}, n.dialed())
			} else {
				assert.Len(t, c.Attempts, 1, "MX 10 first again")
			}
		})
	}
}

// TestDialBackoffTLS: a host passed over for a policy that requires TLS is
// remembered; a policy that only reports (MTA-STS testing) hands over the
// session, which clears it.
func TestDialBackoffTLS(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx1.a.test", DNSNames: []string{"mx1.a.test", "mx2.a.test"}})
	wrong := ca.Issue(t, testpki.Template{CommonName: "mx9.a.test", DNSNames: []string{"mx9.a.test"}})
	for _, tt := range []struct {
		mode string
		kept bool
	}{{"enforce", true}, {"testing", false}} {
		t.Run(tt.mode, func(t *testing.T) {
			d, n, _ := mtastsStartTLS(t, tt.mode, ca)
			store := seededBackoff(map[string]BackoffState{"192.0.2.1:25": due()})
			d.Backoff = store
			n.set("192.0.2.1:25", mailServer(wrong)(t))
			n.set("192.0.2.2:25", mailServer(good)(t))
			c, err := d.Dial(t.Context(), "a.test")
			require.NoError(t, err)
			defer c.Close()
			st, _ := store.Get(t.Context(), ap("192.0.2.1:25"))
			if tt.kept {
				assert.Equal(t, "mx2.a.test", c.Target.Host)
				assert.Equal(t, FailTLS, st.Reason)
				assert.Equal(t, 4, st.Failures, "counted on from the 3 remembered")
			} else {
				assert.Equal(t, "mx1.a.test", c.Target.Host)
				assert.Zero(t, st, "the session clears the address")
			}
		})
	}
}

// TestDialBackoffPlaintextRetry: a failed opportunistic handshake retried
// in plaintext is no failure of the address: nothing is recorded, and the
// plaintext session clears an address remembered before.
func TestDialBackoffPlaintextRetry(t *testing.T) {
	for _, before := range []map[string]BackoffState{nil, {"192.0.2.1:25": due()}} {
		t.Run(fmt.Sprintf("%d remembered before", len(before)), func(t *testing.T) {
			d, n := startTLSTest(t)
			store := seededBackoff(before)
			d.Backoff = store
			n.set("192.0.2.1:25", (&smtpScript{upgrade: breakTLS}).serve(t))
			c, err := d.Dial(t.Context(), "one.test")
			require.NoError(t, err)
			defer c.Close()
			require.Len(t, c.Attempts, 1)
			assert.Equal(t, FailTLS, c.Attempts[0].Failure)
			assert.Nil(t, c.TLSState)
			st, _ := store.Get(t.Context(), ap("192.0.2.1:25"))
			assert.Zero(t, st)
		})
	}
}

// TestDialBackoffLastChance: when every other address fails, the one in
// backoff is tried, and its greeting clears it.
func TestDialBackoffLastChance(t *testing.T) {
	d, n := dialTest(t)
	store := seededBackoff(map[string]BackoffState{"192.0.2.11:25": inBackoff(FailConnectTimeout)})
	d.Backoff = store
	n.set("192.0.2.11:25", smtptest.Serve(t, smtptest.Greet("220 back")).Addr)
	n.set("192.0.2.12:25", smtptest.ClosedPort(t))
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	quit(t, c)
	assert.Equal(t, "mx1.two.test", c.Target.Host)
	assert.Equal(t, []string{"tcp4 192.0.2.12:25", "tcp4 192.0.2.11:25"}, n.dialed())
	st, _ := store.Get(t.Context(), ap("192.0.2.11:25"))
	assert.Zero(t, st, "cleared")
	st, _ = store.Get(t.Context(), ap("192.0.2.12:25"))
	assert.Equal(t, FailRefused, st.Reason, "MX 20's refusal kept")
}

// TestDialBackoffStreams: the first address not in backoff is dialled
// without waiting for the rest of the route: MX 30's lookups never answer,
// MX 10 is in backoff, and MX 20 greets all the same.
func TestDialBackoffStreams(t *testing.T) {
	d, n := dialTest(t)
	d.Router.Resolver = hangOn(d.Router.Resolver, "mx3.three.test.")
	d.Backoff = seededBackoff(map[string]BackoffState{"192.0.2.21:25": inBackoff(FailConnectTimeout)})
	n.set("192.0.2.22:25", smtptest.Serve(t, smtptest.Greet("220 two")).Addr)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a Dial that waited for MX 30 would end here
	defer cancel()
	c, err := d.Dial(ctx, "three.test")
	require.NoError(t, err)
	quit(t, c)
	assert.Equal(t, "mx2.three.test", c.Target.Host)
	assert.Equal(t, []string{"tcp4 192.0.2.22:25"}, n.dialed())
}

// failingBackoff is a store that fails every call.
type failingBackoff struct{}

var errStoreDown = errors.New("store down")

func (failingBackoff) Get(context.Context, netip.AddrPort) (BackoffState, error) {
	return BackoffState{}, errStoreDown
}
func (failingBackoff) Fail(context.Context, netip.AddrPort, time.Time, Failure) (BackoffState, error) {
	return BackoffState{}, errStoreDown
}
func (failingBackoff) Clear(context.Context, netip.AddrPort) error { return errStoreDown }

// TestDialBackoffStoreFails: a store that fails costs no delivery: every
// address in route order, the failures reported to the trace.
func TestDialBackoffStoreFails(t *testing.T) {
	d, n := dialTest(t)
	var ts traceSteps
	d.Router.Trace = ts.trace
	d.Backoff = failingBackoff{}
	n.set("192.0.2.11:25", smtptest.ClosedPort(t))
	n.set("192.0.2.12:25", smtptest.Serve(t, smtptest.Greet("220 two")).Addr)
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	quit(t, c)
	assert.Equal(t, "mx2.two.test", c.Target.Host)
	assert.Equal(t, []string{"tcp4 192.0.2.11:25", "tcp4 192.0.2.12:25"}, n.dialed())
	var msgs []string
	for _, e := range ts.of(StepBackoff) {
		assert.ErrorIs(t, e.Err, errStoreDown)
		msgs = append(msgs, e.Message)
	}
	assert.Len(t, msgs, 3, "two lookups and a record: %q", msgs)
	assert.Contains(t, strings.Join(msgs, "\n"), "mx1.two.test [192.0.2.11] port 25: the backoff store failed: store down; tried in route order")
	assert.Contains(t, strings.Join(msgs, "\n"), "attempt 1: mx1.two.test [192.0.2.11] port 25: the backoff store failed to remember its refused")
}

// TestDialBackoffTrace: the decisions in the order they are made, each with
// its rule: held back, the failure remembered, before StepNoConnection.
func TestDialBackoffTrace(t *testing.T) {
	d, n := dialTest(t)
	var ts traceSteps
	d.Router.Trace = ts.trace
	d.Backoff = seededBackoff(map[string]BackoffState{"192.0.2.11:25": inBackoff(FailConnectTimeout)})
	n.set("192.0.2.11:25", smtptest.ClosedPort(t))
	n.set("192.0.2.12:25", smtptest.ClosedPort(t))
	_, err := d.Dial(t.Context(), "two.test")
	require.Error(t, err)
	var got []string
	for _, e := range ts.events {
		if e.Step >= StepConnect {
			got = append(got, fmt.Sprintf("%s %d %s", e.Step, e.Count, e.Host))
		}
		if e.Step == StepBackoff {
			assert.Equal(t, "RFC 5321, Section 4.5.4.1", e.Rule)
		}
	}
	// Attempt 1 (MX 20) is remembered while attempt 2 runs: its event
	// comes before or after attempt 2's start.
	want := []string{"backoff 1 mx1.two.test", "connect 1 mx2.two.test", "connect-failed 1 mx2.two.test",
		"backoff 1 mx2.two.test", "connect 2 mx1.two.test", "connect-failed 2 mx1.two.test", "backoff 2 mx1.two.test",
		"no-connection 2 "}
	if len(got) > 4 && got[3] != want[3] {
		want[3], want[4] = want[4], want[3]
	}
	assert.Equal(t, want, got)
}

// TestBackoffStepName: the new step has its name.
func TestBackoffStepName(t *testing.T) {
	assert.Equal(t, "backoff", StepBackoff.String())
}
