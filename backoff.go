package mxroute

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// The memory of addresses that could not be reached. RFC 5321, Section
// 4.5.4.1: "the SMTP client SHOULD keep a list of hosts it cannot reach and
// corresponding connection timeouts, rather than just retrying queued mail
// items". The Dialer keeps it in its Backoff store, by the address dialled;
// this file holds the schedule and the Dialer's use of it.

const ruleBackoff = "RFC 5321, Section 4.5.4.1"

// The schedule of BackoffState.Next, in milliseconds, the precision every
// store keeps.
const (
	// backoffMin is the wait after a first failure, and the least after
	// any: a host back from a reboot is first in line again a minute later.
	backoffMin = int64(time.Minute / time.Millisecond)
	// backoffMax is the longest wait: at most one failed attempt an hour
	// on an address that stays dead, where it is tried first.
	backoffMax = int64(time.Hour / time.Millisecond)
	// backoffForget: a failure more than a day after the one before it
	// starts a new count, as after a success.
	backoffForget = int64(24 * time.Hour / time.Millisecond)
	// A wait w is shortened by w*k/jitterDiv, k drawn in [0, jitterSteps):
	// by less than a quarter, so that a fleet that failed on an address at
	// the same moment does not come back to it at the same moment.
	jitterDiv   = 1024
	jitterSteps = 256
)

// ErrBadBackoff: a BackoffStore was given an invalid address, or read back a
// record that does not parse (an unknown failure, times out of order).
var ErrBadBackoff = errors.New("mxroute: malformed backoff record")

// A BackoffStore keeps what a Dialer learns of the addresses it could not
// reach (Dialer.Backoff), keyed by the address dialled: the IP address and
// port. MemoryBackoff keeps it in this process, FileBackoff across restarts,
// SQLBackoff in a database that a fleet of MTAs shares. A store of one's own
// applies BackoffState.Next in Fail. A BackoffStore is safe for concurrent
// use, and no failure recorded is lost to another recorded at the same time.
type BackoffStore interface {
	// Get gives what is remembered of addr: the zero BackoffState when
	// nothing is.
	Get(ctx context.Context, addr netip.AddrPort) (BackoffState, error)
	// Fail records a failure of an attempt on addr that ended at at: the
	// state becomes what BackoffState.Next gives, in one atomic step, and
	// is returned.
	Fail(ctx context.Context, addr netip.AddrPort, at time.Time, reason Failure) (BackoffState, error)
	// Clear forgets addr: it greeted.
	Clear(ctx context.Context, addr netip.AddrPort) error
}

// A BackoffState is what a BackoffStore remembers of an address. Times are
// in UTC, to the millisecond.
type BackoffState struct {
	// Failures counts the failures since the address last greeted, each
	// within a day of the one before. 0: nothing is remembered.
	Failures int
	First    time.Time // the first of them
	Last     time.Time // the latest
	// Retry is when the backoff ends: until then a Dialer tries the
	// address after every other target of the route.
	Retry  time.Time
	Reason Failure // the latest failure
}

// A BackoffEntry is an address and its state, as stores list them.
type BackoffEntry struct {
	Addr netip.AddrPort
	BackoffState
}

// Deferred reports whether, at now, the address waits for the others: it
// is remembered and its Retry has not come.
func (s BackoffState) Deferred(now time.Time) bool {
	return s.Failures > 0 && now.Before(s.Retry)
}

// Next is the state after one more failure, ended at at, for reason. The
// wait until Retry is as long as the address has been failing (from First
// to at), at least 1 minute and at most 1 hour, shortened at random by less
// than a quarter: an address retried each time its wait ends, and failing
// again, is retried about 1, 2, 4, ... 32 minutes after its first failure,
// then every hour, and a burst of failures at once (many deliveries in
// flight) counts as one wait. Retry never moves earlier, nor more than an hour past the latest
// failure. A failure more than a day after the one before starts afresh.
// Postfix backs off a deferred message by the same rule (its cool-down is
// the message's age, minimal_backoff_time to maximal_backoff_time).
func (s BackoffState) Next(at time.Time, reason Failure) BackoffState {
	return s.next(at.UnixMilli(), reason, rand.Int64N(jitterSteps))
}

// next is Next at at (Unix milliseconds) with jitter k in [0, jitterSteps).
// SQLBackoff computes the same in SQL: keep them in step.
func (s BackoffState) next(at int64, reason Failure, k int64) BackoffState {
	if s.Failures < 1 || s.Last.UnixMilli() < at-backoffForget {
		return BackoffState{Failures: 1, First: msTime(at), Last: msTime(at), Retry: msTime(at + jitter(backoffMin, k)), Reason: reason}
	}
	first, last, retry := s.First.UnixMilli(), s.Last.UnixMilli(), s.Retry.UnixMilli()
	r := at + jitter(min(max(at-first, backoffMin), backoffMax), k)
	// An hour past the latest failure, max(last, at): a failure reported
	// late (another MTA's clock) must not bring Retry before Last.
	if retry > r && retry <= max(last, at)+backoffMax {
		r = retry
	}
	return BackoffState{Failures: s.Failures + 1, First: msTime(min(first, at)), Last: msTime(max(last, at)),
		Retry: msTime(r), Reason: reason}
}

// jitter shortens the wait w by w*k/jitterDiv.
func jitter(w, k int64) int64 { return w - w*k/jitterDiv }

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// check tells whether s is a state Next can give: what a store reads back
// must be, or it does not parse.
func (s BackoffState) check() error {
	fail := func(why string) error { return fmt.Errorf("%w: %s", ErrBadBackoff, why) }
	switch {
	case s.Failures < 1:
		return fail(fmt.Sprintf("%d failures", s.Failures))
	case s.First.After(s.Last):
		return fail(fmt.Sprintf("first failure %s after the last, %s", s.First.Format(time.RFC3339Nano), s.Last.Format(time.RFC3339Nano)))
	case !s.Retry.After(s.Last) || s.Retry.UnixMilli() > s.Last.UnixMilli()+backoffMax:
		return fail(fmt.Sprintf("retry %s not within an hour after the last failure, %s", s.Retry.Format(time.RFC3339Nano), s.Last.Format(time.RFC3339Nano)))
	case !s.Reason.remembered():
		return fail(fmt.Sprintf("reason %s", s.Reason))
	}
	return nil
}

// checkAddr refuses an address no Dialer dials.
func checkAddr(addr netip.AddrPort) error {
	if !addr.IsValid() || addr.Port() == 0 || addr.Addr().Zone() != "" || addr.Addr().Is4In6() {
		return fmt.Errorf("%w: address %q", ErrBadBackoff, addr)
	}
	return nil
}

// remembered reports whether a Dialer remembers an attempt that ends with
// f (FailTLS only when the policy required TLS; see attempt.backoffFailure).
func (f Failure) remembered() bool {
	switch f {
	case FailRefused, FailConnectTimeout, FailUnreachable, FailGreetingTimeout, FailReplyTimeout, FailTLS:
		return true
	}
	return false
}

// parseFailure is the Failure named name (Failure.String), or false.
func parseFailure(name string) (Failure, bool) {
	for f, n := range failureNames {
		if n == name && f > 0 {
			return Failure(f), true
		}
	}
	return 0, false
}

// backoffFailure reports whether the attempt's end is one the Dialer
// remembers: no TCP connection (refused, timed out, unreachable), no
// greeting in time, no reply to EHLO or STARTTLS in time, or a policy
// requiring TLS failed. Those that fail fast on a server that answers
// (rejected, dropped, malformed, EHLO refused) are not: the next delivery
// loses a round-trip or two to them, not a timeout, and a 421 is often
// gone a moment later. Neither is a failed handshake retried in plaintext,
// nor a cancelled attempt, whose outcome nobody knows.
func (a *attempt) backoffFailure() bool {
	switch {
	case a.retryPlain:
		return false
	case a.Failure == FailTLS:
		return a.tlsStatus != ""
	}
	return a.Failure.remembered()
}

// addrPort is the address the Dialer dials for t, or false when the port
// is no TCP port (such a Dialer remembers nothing).
func (d *Dialer) addrPort(t Target) (netip.AddrPort, bool) {
	p := d.Port
	if p <= 0 {
		p = defaultPort
	}
	if p > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(t.Addr, uint16(p)), true
}

// recall looks t's address up in the Backoff store, for feed. It reports
// whether the address is in backoff and must wait until every other
// target has been tried (the decision is reported here). A store that
// fails leaves the address in route order: the memory only ever orders.
func (dl *dialing) recall(ctx context.Context, t Target) (BackoffState, bool) {
	ap, ok := dl.d.addrPort(t)
	if !ok {
		return BackoffState{}, false
	}
	st, err := dl.d.Backoff.Get(ctx, ap)
	now := time.Now()
	later := err == nil && st.Deferred(now)
	if r := dl.r; r.Trace != nil && (err != nil || later) {
		e := Event{Step: StepBackoff, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: ruleBackoff,
			Count: st.Failures, Err: err}
		if err != nil {
			e.Message = fmt.Sprintf("%s [%s] port %d: the backoff store failed: %v; tried in route order", t.Host, t.Addr, ap.Port(), err)
		} else {
			e.Message = fmt.Sprintf("%s [%s] port %d in backoff for %s more (until %s; %s): tried after the others",
				t.Host, t.Addr, ap.Port(), roundDuration(st.Retry.Sub(now)), st.Retry.Format(time.RFC3339), describeBackoff(st))
		}
		r.emit(dl.ctx, e)
	}
	if err != nil {
		return BackoffState{}, false
	}
	return st, later
}

// remember tells the Backoff store how an attempt ended: a failure it
// keeps is recorded; a greeting (greeted: the attempt had its Conn, even
// one that lost the race to another) clears an address that was
// remembered. The store is written on a goroutine of its own, so that the
// next attempt does not wait for it; run waits for it (dl.memo) before it
// returns.
func (dl *dialing) remember(a *attempt, greeted bool) {
	if dl.d.Backoff == nil {
		return
	}
	ap, ok := dl.d.addrPort(a.Target)
	if !ok {
		return
	}
	n, t, was := a.n, a.Target, a.backoff
	switch {
	case greeted:
		if was.Failures == 0 {
			return // nothing to forget: no write
		}
		dl.memo.Go(func() {
			err := dl.d.Backoff.Clear(dl.ctx, ap)
			msg := fmt.Sprintf("attempt %d: %s [%s] port %d greeted: forgotten (%s)", n, t.Host, t.Addr, ap.Port(), describeBackoff(was))
			count := 0
			if err != nil {
				msg = fmt.Sprintf("attempt %d: %s [%s] port %d greeted, but the backoff store failed to forget it: %v", n, t.Host, t.Addr, ap.Port(), err)
				count = was.Failures
			}
			dl.traceBackoff(t, count, err, msg)
		})
	case a.backoffFailure():
		f, at := a.Failure, a.Start.Add(a.Duration)
		dl.memo.Go(func() {
			st, err := dl.d.Backoff.Fail(dl.ctx, ap, at, f)
			msg := fmt.Sprintf("attempt %d: %s [%s] port %d remembered (%s): in backoff until %s, tried after the others until then",
				n, t.Host, t.Addr, ap.Port(), describeBackoff(st), st.Retry.Format(time.RFC3339))
			if err != nil {
				msg = fmt.Sprintf("attempt %d: %s [%s] port %d: the backoff store failed to remember its %s: %v", n, t.Host, t.Addr, ap.Port(), f, err)
			}
			dl.traceBackoff(t, st.Failures, err, msg)
		})
	}
}

func (dl *dialing) traceBackoff(t Target, count int, err error, msg string) {
	if r := dl.r; r.Trace != nil {
		r.emit(dl.ctx, Event{Step: StepBackoff, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: ruleBackoff,
			Count: count, Err: err, Message: msg})
	}
}

// describeBackoff says what a state remembers, e.g. "3 failures since
// 2025-01-02T03:04:05Z, the latest connect-timeout".
func describeBackoff(s BackoffState) string {
	return fmt.Sprintf("%d failure(s) since %s, the latest %s", s.Failures, s.First.Format(time.RFC3339), s.Reason)
}
