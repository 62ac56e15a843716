package mxroute

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mxroute-go/mxroute/tlsrpt"
)

// Defaults and bounds of a Dialer.
const (
	defaultPort            = 25
	defaultConnectTimeout  = 30 * time.Second // Postfix smtp_connect_timeout
	defaultGreetingTimeout = 5 * time.Minute  // RFC 5321, Section 4.5.3.2.1
	// RFC 8305, Section 5: "a subsequent connection MUST NOT be started
	// within 10 milliseconds of the previous attempt."
	minStagger = 10 * time.Millisecond
	// quitTimeout bounds the QUIT written to a server whose greeting is
	// not used; its answer is not awaited.
	quitTimeout = time.Second
)

// The rules the Dialer's trace events cite.
const (
	ruleTryInOrder = "RFC 5321, Section 5.1"
	ruleStagger    = "RFC 8305, Section 5"
	ruleGreeting   = "RFC 5321, Section 3.1"
	ruleReplyLine  = "RFC 5321, Section 4.2"
	ruleGreetWait  = "RFC 5321, Section 4.5.3.2.1"
)

// A Dialer connects to a domain's mail exchangers: it walks the targets of
// Router.Targets in route order until one greets with 220 (and, with
// StartTLS, gets through EHLO and STARTTLS as its TLS policy requires),
// skipping addresses that refuse, time out, reset, greet with anything else
// or fail their policy, and says, when none is left, whether to defer
// (always: nothing that failed to answer now is a reason to bounce). Its
// zero value dials port 25 through a zero Router, one address at a time,
// with Postfix's and RFC 5321's timeouts, and returns at the greeting. A zero Router tries every address of every host: bound the
// attempts with Router.MaxAddrs and the whole with ctx. A Dialer is safe for
// concurrent use as long as its fields are not changed.
type Dialer struct {
	// Router routes the domain; its Trace also sees every attempt (see
	// StepConnect). nil: a zero Router.
	Router *Router
	// Port is the TCP port dialled on every target. 0: 25.
	Port int
	// DialContext opens each TCP connection ("tcp4" or "tcp6", an address
	// such as "192.0.2.1:25"), e.g. through a SOCKS5 proxy or from a chosen
	// source address; it must honour ctx, which ends at ConnectTimeout. A
	// connection without working deadlines is closed at the greeting
	// timeout and on cancellation. nil: a zero net.Dialer's DialContext.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// ConnectTimeout bounds each address's TCP connect. 0: 30 s, Postfix's
	// smtp_connect_timeout.
	ConnectTimeout time.Duration
	// GreetingTimeout bounds the wait for the whole greeting, from the
	// connect on. 0: 5 min, RFC 5321, Section 4.5.3.2.1: "Initial 220
	// Message: 5 Minutes".
	GreetingTimeout time.Duration
	// Stagger is RFC 8305's Connection Attempt Delay: when the latest
	// attempt has neither greeted nor failed after Stagger, the next target
	// starts too, and the first to greet wins; once a server has begun its
	// 220 greeting, the next waits for it to fail (Postfix's postscreen).
	// The delay runs to the greeting, so more than RFC 8305's 250 ms is
	// reasonable (README, Connecting). 0: one attempt at a time; below
	// 10 ms counts as 10 ms. With StartTLS an attempt that has greeted
	// keeps its turn through EHLO and TLS.
	Stagger time.Duration
	// StartTLS makes each attempt go on after its 220 greeting: EHLO (HELO
	// when the server knows no EHLO and TLS is not required), then STARTTLS
	// under the target's TLS policy (Target.TLS; nil: opportunistic, as
	// Postfix's "may"). A target that fails a policy requiring TLS (DANE,
	// MTA-STS enforce) is an Attempt with FailTLS, and the next target is
	// tried, with no DNS asked again. The Conn is then the TLS connection
	// (Conn.TLSState), or plaintext where the policy allows, and reading it
	// starts with the greeting again, so that an SMTP client sends its own
	// EHLO first (RFC 3207, Section 4.2) and needs no STARTTLS of its own.
	// false: Dial returns at the greeting; STARTTLS is the caller's.
	StartTLS bool
	// Hello is the EHLO argument: a fully qualified domain name or an
	// address literal such as "[192.0.2.1]" (RFC 5321, Section 4.1.1.1);
	// anything else makes Dial fail with ErrBadHello. "": os.Hostname()
	// when it is fully qualified, else the literal of each connection's
	// local address. Only with StartTLS.
	Hello string
	// HelloTimeout bounds the wait for the whole reply to EHLO, and to
	// HELO. 0: 5 min, Postfix's smtp_helo_timeout.
	HelloTimeout time.Duration
	// StartTLSTimeout bounds the wait for the whole reply to STARTTLS, and
	// then the TLS handshake. 0: 5 min, Postfix's smtp_starttls_timeout.
	StartTLSTimeout time.Duration
	// TLSReports counts each attempt's TLS session for SMTP TLS Reporting
	// (RFC 8460) once the attempt ends (tlsreport.go): under the policy it
	// applied (MTA-STS, DANE's TLSA records, none), a success or a failure
	// with its result type, addresses, MX host and HELO name. Only with
	// StartTLS, and only sessions that got to TLS: a refused connect, a
	// timeout or a rejected greeting is no TLS session. A Collector error
	// never fails the delivery: it goes to Router.Trace (StepTLSReport).
	// nil: nothing counted, as for the Dialer that delivers the reports
	// themselves (RFC 8460, Section 3: a report's delivery is not counted
	// in a report, and gets through despite TLS failures: a Router without
	// MTASTS and DANE; docs/tlsrpt.md).
	TLSReports *tlsrpt.Collector
	// Backoff remembers the addresses (IP and Port) that could not be
	// reached, as RFC 5321, Section 4.5.4.1 asks of a sender: an attempt
	// that is refused, times out (connecting, or waiting for the greeting
	// or a reply to EHLO or STARTTLS), finds its address unreachable, or
	// fails a TLS policy that requires TLS is recorded, with a backoff that
	// grows while the address keeps failing (BackoffState.Next: 1 min,
	// doubling, to 1 h). An address in backoff is tried after all the
	// other targets, in route order among such addresses: never dropped,
	// so a domain whose only address is remembered is still tried. An
	// attempt that greets (with StartTLS: gets its session) clears its
	// address. nil: nothing is remembered, every target in route order.
	// Share one store among all the Dialers of a process (MemoryBackoff),
	// or of a fleet (SQLBackoff).
	Backoff BackoffStore
}

// defaultRouter serves Dialers whose Router is nil.
var defaultRouter = &Router{}

func (d *Dialer) router() *Router {
	if d.Router != nil {
		return d.Router
	}
	return defaultRouter
}

func (d *Dialer) port() string {
	if d.Port > 0 {
		return strconv.Itoa(d.Port)
	}
	return strconv.Itoa(defaultPort)
}

func (d *Dialer) connectTimeout() time.Duration {
	if d.ConnectTimeout > 0 {
		return d.ConnectTimeout
	}
	return defaultConnectTimeout
}

func (d *Dialer) greetingTimeout() time.Duration {
	if d.GreetingTimeout > 0 {
		return d.GreetingTimeout
	}
	return defaultGreetingTimeout
}

func (d *Dialer) stagger() time.Duration {
	if d.Stagger <= 0 {
		return 0
	}
	return max(d.Stagger, minStagger)
}

func (d *Dialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	if d.DialContext != nil {
		return d.DialContext(ctx, network, address)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, address)
}

// A Conn is a connection to a mail host that greeted with 220 and, with
// Dialer.StartTLS, got through EHLO and STARTTLS as its policy requires.
type Conn struct {
	net.Conn               // reading starts with the greeting, as on a fresh socket; with TLSState, the TLS connection
	Target   Target        // the address that greeted
	Greeting string        // its 220 reply: every line as received, codes included, without line ends, joined by "\n"
	Domain   string        // the domain dialled, as given to Dial
	Attempts []Attempt     // the attempts that did not become this Conn, in the order started: those that failed before it and, with Stagger, those cancelled when it won
	Elapsed  time.Duration // from the call of Dial to the greeting (with StartTLS, to the end of the handshake): the route, the attempts before, this one
	// TLS is the TLS policy of Target.Host (Target.TLS): what STARTTLS on
	// this Conn must verify, and the tls.Config for it
	// (TLS.TLSConfig()). With TLS.Required() a failed or refused STARTTLS
	// means another host, or later (Dialer.StartTLS does this). nil
	// without Router.MTASTS and Router.DANE: opportunistic.
	TLS *TLSPolicy
	// TLSState is the session's TLS once STARTTLS succeeded (Dialer.StartTLS);
	// nil: plaintext, as a policy that does not require TLS allows when
	// the server offers or accepts no STARTTLS, or on the plaintext retry
	// after a failed handshake.
	TLSState *tls.ConnectionState
	// HelloReply is the server's reply to EHLO (or to HELO, when it knew
	// no EHLO) before STARTTLS, lines joined by "\n"; its first line names
	// the server (RFC 8460's receiving-mx-helo). "" without StartTLS. Over
	// TLS, the client's own EHLO gets the extensions that count (RFC 3207,
	// Section 4.2).
	HelloReply string
	// TLSCheck is why the session falls short of a policy that reports
	// without enforcing, for a TLSRPT report (RFC 8460): under MTA-STS
	// testing, the certificate check that failed, STARTTLS not offered or
	// refused, or (on the plaintext retry) the failed handshake, an
	// *mtasts.Error; with DANE whose TLSA records are all unusable, a
	// *dane.Error with tlsa-invalid. TLSResult is its RFC 8460 result type.
	// nil and "": the check passed, or no policy asks for a report.
	TLSCheck  error
	TLSResult TLSResult
}

// An Attempt is one connection attempt of Dial that did not become its Conn.
type Attempt struct {
	Target   Target
	Start    time.Time     // when the connect began
	Duration time.Duration // from Start to the end of the attempt
	Failure  Failure       // why it did not become the Conn
	Reply    string        // what the server sent, when it sent a reply: FailRejected, FailHello, FailMalformed, a refused STARTTLS (FailTLS), a greeted FailCancelled (lines joined by "\n")
	Err      error         // the failure itself: the net error of a connect, the read error of a greeting, the reply; for FailCancelled the context's cause; for FailTLS an error that errors.Is matches with TLSResult
	// TLSResult is the RFC 8460 result type of a FailTLS, e.g.
	// dane.CertificateNotTrusted or mtasts.StartTLSNotSupported; "" for
	// the other failures.
	TLSResult TLSResult
	// TLSState is the TLS session of a FailTLS whose handshake succeeded
	// and whose certificate failed the policy (TLSResult
	// certificate-not-trusted, certificate-host-mismatch, ...): the
	// certificates the server presented, for a report or a prober. nil for
	// every other attempt.
	TLSState *tls.ConnectionState
}

// String describes the attempt in one line, e.g.
// `mx1.example.com [192.0.2.1]: rejected after 3ms: greeting rejected: "421 busy"`.
func (a Attempt) String() string {
	return fmt.Sprintf("%s [%s]: %s after %s: %v", a.Target.Host, a.Target.Addr, a.Failure, roundDuration(a.Duration), a.Err)
}

// A Failure is why a connection attempt did not become the Conn.
type Failure int

// The failures of an Attempt. FailRefused, FailConnectTimeout and
// FailUnreachable got no TCP connection (4.4.1 when every attempt ends so);
// the others had one (4.4.2; 4.7.x when one was a FailTLS that made its
// host unusable).
const (
	// FailRefused: the connect was refused (a TCP reset to the SYN).
	FailRefused Failure = iota + 1
	// FailConnectTimeout: no answer to the connect within ConnectTimeout,
	// as when a firewall drops the SYNs.
	FailConnectTimeout
	// FailUnreachable: any other failed connect: no route, network or host
	// unreachable, an error of the DialContext hook (a proxy's refusal).
	FailUnreachable
	// FailDropped: the connection was reset or closed before the greeting
	// was complete or, with StartTLS, before a reply to EHLO, HELO or
	// STARTTLS was.
	FailDropped
	// FailGreetingTimeout: connected, but no complete greeting within
	// GreetingTimeout.
	FailGreetingTimeout
	// FailRejected: the server greeted with a 4xx or 5xx reply (Reply);
	// RFC 5321, Section 3.1: "a 554 response MAY be given in the initial
	// connection opening message instead of the 220", and Postfix's
	// smtp_skip_5xx_greeting tries the next host. QUIT is sent before
	// closing, since the server "MUST still wait for the client to send a
	// QUIT".
	FailRejected
	// FailMalformed: what the server sent is no SMTP reply, breaks its
	// limits (a reply over 64 KiB, e.g. endless "250-" lines), or has a
	// code a greeting cannot have (not 220, 4xx or 5xx).
	FailMalformed
	// FailCancelled: stopped before it could succeed, or after it greeted
	// too late: another attempt greeted first (Stagger), or ctx ended.
	FailCancelled
	// FailHello (with StartTLS): the server answered EHLO with 421, or
	// EHLO and then HELO with 4xx or 5xx (Reply); QUIT is sent, and the
	// next target tried, as Postfix does when a host "refused to talk to
	// me".
	FailHello
	// FailReplyTimeout (with StartTLS): no complete reply to EHLO, HELO
	// (HelloTimeout) or STARTTLS (StartTLSTimeout), as from a server that
	// trickles its reply or says nothing.
	FailReplyTimeout
	// FailTLS (with StartTLS): the session did not get the TLS its policy
	// asks for; TLSResult is the RFC 8460 result type. Under a policy that
	// requires TLS: STARTTLS not offered or refused
	// (starttls-not-supported), a failed or stalled handshake
	// (validation-failure), a certificate the policy rejects
	// (certificate-not-trusted, certificate-host-mismatch,
	// certificate-expired, ...); the host is skipped (RFC 7672, Section
	// 2.2; RFC 8461, Section 5). Under one that does not (nil,
	// TLSOpportunistic, TLSMTASTSTesting), only a failed handshake, and the
	// next attempt reconnects to the same address in plaintext, as
	// Postfix does.
	FailTLS
)

var failureNames = [...]string{
	FailRefused: "refused", FailConnectTimeout: "connect-timeout", FailUnreachable: "unreachable",
	FailDropped: "dropped", FailGreetingTimeout: "greeting-timeout", FailRejected: "rejected",
	FailMalformed: "malformed", FailCancelled: "cancelled", FailHello: "hello-rejected", FailReplyTimeout: "reply-timeout",
	FailTLS: "tls",
}

// String returns the failure's short name, e.g. "connect-timeout".
func (f Failure) String() string {
	if f > 0 && int(f) < len(failureNames) {
		return failureNames[f]
	}
	return "Failure(" + strconv.Itoa(int(f)) + ")"
}

// errLostRace is the cause of an attempt cancelled because another greeted first.
var errLostRace = errors.New("another address greeted first")

// Dial connects to a mail host of domain and returns the connection once
// the host has greeted with 220 (with StartTLS: once EHLO and STARTTLS are
// done as the target's TLS policy asks), ready for EHLO: reading the Conn
// starts with that greeting, so an SMTP client such as go-smtp's NewClient
// takes it as a fresh socket.
//
// The targets come from Router.Targets in route order, so the first
// connection starts as soon as the first address is known. With Backoff, an
// address in backoff waits until the route is complete and every other
// target has been tried (the first connection starts with the first
// address not in backoff), and the store hears how each attempt ended
// before Dial returns. An attempt that
// is refused, times out (ConnectTimeout, GreetingTimeout), is reset, or
// greets with 4xx, 5xx or anything malformed gives way to the next target;
// with Stagger, a slow one also lets the next start beside it. With
// StartTLS, so does one whose EHLO is refused, whose replies do not come in
// time (HelloTimeout, StartTLSTimeout), or that fails a policy requiring
// TLS (FailTLS); a failed handshake under a policy that does not require
// TLS is retried once on the same address in plaintext.
//
// When no target greets, the error is an *Error wrapping ErrNoConnection,
// always temporary (RFC 5321, Section 4.5.4.1: a sender retries), with
// status 4.4.1 when no attempt got a TCP connection and 4.4.2 when some
// did, and every attempt in Error.Attempts. When an attempt's host was
// passed over for its TLS policy, the status is that of its failure, as
// Postfix gives it: 4.7.4 for STARTTLS not offered, 4.7.0 refused, 4.7.5
// for a failed handshake or certificate check; its error is then the
// Error's Cause, so that errors.Is(err, dane.CertificateNotTrusted) holds. The route's own errors
// (ErrNullMX, ErrNoSuchDomain, a DNS failure, ...) are returned as Route
// returns them, and no connection is attempted. When ctx ends first,
// every attempt stops, and the error is temporary and answers
// errors.Is(err, ctx.Err()). Dial returns only when every connection but
// the Conn is closed and every goroutine it started has ended.
func (d *Dialer) Dial(ctx context.Context, domain string) (*Conn, error) {
	return d.dialDomain(ctx, domain, nil)
}

// DialTarget connects to the one target t of domain as Dial connects to
// each of its targets: the connect, the greeting and, with StartTLS, EHLO
// and STARTTLS under t.TLS (a failed handshake that t.TLS does not require
// retried once in plaintext), with the Dialer's timeouts, Port, DialContext
// and Router.Trace. No route is computed: t is taken as Route or Targets
// gave it, its TLS policy included. It is for tools that look at every
// address on its own, a prober or a monitor; an MTA uses Dial, which moves
// on to the next target. An address the Router would never route to (a
// special-purpose block, RFC 6890; loopback unless Router.AllowLoopback) is
// not dialled: the error is permanent, ErrNoAddress, as on a Host. Every
// other failure is Dial's: an *Error wrapping ErrNoConnection, temporary,
// its attempts in Error.Attempts.
func (d *Dialer) DialTarget(ctx context.Context, domain string, t Target) (*Conn, error) {
	return d.dialDomain(ctx, domain, &t)
}

// dialDomain is Dial, or DialTarget when only is not nil.
func (d *Dialer) dialDomain(ctx context.Context, domain string, only *Target) (*Conn, error) {
	dl := &dialing{d: d, r: d.router(), ctx: ctx, domain: domain, only: only, start: time.Now(),
		results: make(chan *attempt), begun: make(chan *attempt)}
	if d.StartTLS {
		var herr *Error
		if dl.hello, herr = d.helloName(domain); herr != nil {
			if dl.r.Trace != nil {
				dl.r.emit(ctx, Event{Step: StepNoConnection, Domain: domain, Err: herr, Rule: ruleEHLO,
					Message: "no connection: " + herr.Error()})
			}
			return nil, herr
		}
	}
	dctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		dl.wg.Wait()
	}()
	targets := make(chan routed)
	dl.wg.Go(func() { dl.feed(dctx, targets) })
	c, err := dl.run(dctx, targets)
	if err != nil && dl.r.Trace != nil {
		dl.r.emit(ctx, Event{Step: StepNoConnection, Domain: domain, Count: len(dl.attempts), Err: err,
			Message: "no connection: " + err.Error()})
	}
	return c, err
}

// only yields t alone, or the error of an address r never routes to.
func (r *Router) only(domain string, t Target) iter.Seq2[Target, error] {
	return func(yield func(Target, error) bool) {
		if b := r.special(t.Addr); b != nil || !t.Addr.IsValid() {
			detail := "no usable address: the target has no address"
			if b != nil {
				detail = "no usable address: " + b.describe(t.Addr)
			}
			yield(Target{}, &Error{Domain: domain, Host: t.Host, Status: statusUnroutable, Err: ErrNoAddress, Detail: detail})
			return
		}
		yield(t, nil)
	}
}

// routed is one item of Router.Targets.
type routed struct {
	t       Target
	err     error
	backoff BackoffState // what Dialer.Backoff remembers of t's address
}

// feed sends the route's targets to run in route order, each as soon as it
// is known and run asks for it, then the route's error if any, and closes
// targets. With Dialer.Backoff, an address in backoff is held back (recall)
// and sent once every other target has been: RFC 5321, Section 4.5.4.1
// defers a host the sender cannot reach, never drops it.
func (dl *dialing) feed(ctx context.Context, targets chan<- routed) {
	defer close(targets)
	send := func(it routed) bool {
		select {
		case targets <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var held []routed
	var end error
	seq := dl.r.Targets(ctx, dl.domain)
	if dl.only != nil {
		seq = dl.r.only(dl.domain, *dl.only)
	}
	for t, err := range seq {
		if err != nil {
			end = err // the last item (Router.Targets)
			break
		}
		it := routed{t: t}
		if dl.d.Backoff != nil {
			var later bool
			if it.backoff, later = dl.recall(ctx, t); later {
				held = append(held, it)
				continue
			}
		}
		if !send(it) {
			return
		}
	}
	for _, it := range held {
		if !send(it) {
			return
		}
	}
	if end != nil {
		send(routed{err: end})
	}
}

// dialing is one call of Dial.
type dialing struct {
	d       *Dialer
	r       *Router
	ctx     context.Context // the caller's
	domain  string
	only    *Target // DialTarget's one target; nil: Router.Targets
	start   time.Time
	results chan *attempt // every attempt's goroutine sends its attempt once, at its end
	begun   chan *attempt // an attempt whose server has begun a 220 greeting, at most once each
	wg      sync.WaitGroup
	hello   string // the EHLO argument; "": each connection's local address literal

	attempts []*attempt // in the order started
	running  int
	memo     sync.WaitGroup // the writes to Dialer.Backoff (remember)
}

// attempt is one connection attempt in progress or ended.
type attempt struct {
	Attempt
	n         int // 1 for the first attempt
	cancel    context.CancelCauseFunc
	begun     func()    // called when the server has begun a 220 greeting
	begunOnce sync.Once // begun is called at most once
	conn      net.Conn  // the socket, once connected (with TLS up, the *tls.Conn over it); nil when it failed or was closed
	greeting  smtpReply // the greeting, as far as it came (a 220 one for a conn)
	buffered  []byte    // what the server sent beyond the greeting (with StartTLS in plaintext, beyond the last reply)
	connected bool
	backoff   BackoffState // what Dialer.Backoff remembered of the address when it was looked up

	// With Dialer.StartTLS:
	plain      bool                 // the plaintext retry of the attempt before: no STARTTLS
	prevCheck  error                // that attempt's check, kept on the retry
	retryPlain bool                 // ended by a failed handshake the policy lets retry in plaintext
	tlsStatus  string               // a FailTLS that made the host unusable: the 4.7.x status
	hello      smtpReply            // the reply to EHLO, or HELO
	state      *tls.ConnectionState // the TLS session, once up
	check      error                // Conn.TLSCheck
	local      netip.Addr           // the socket's own address, for TLS reporting
}

// signalBegun calls begun once: the server is there and greeting.
func (a *attempt) signalBegun() { a.begunOnce.Do(a.begun) }

// run starts attempts as targets arrive, by the Stagger rule, until one
// greets, the targets are exhausted, or ctx ends, and waits for every
// attempt to end.
func (dl *dialing) run(ctx context.Context, targets <-chan routed) (*Conn, error) {
	stagger := dl.d.stagger()
	var (
		next     = true // start the next target as soon as it is known
		timer    *time.Timer
		timerC   <-chan time.Time
		done     = dl.ctx.Done()
		over     bool // no more targets: exhausted, a winner, or ctx ended
		last     *attempt
		winner   *attempt
		routeErr error
	)
	defer dl.memo.Wait()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	restart := func() {
		if stagger <= 0 {
			return
		}
		if timer == nil {
			timer = time.NewTimer(stagger)
		} else {
			timer.Reset(stagger)
		}
		timerC = timer.C
	}
	for !over || dl.running > 0 {
		var in <-chan routed
		if next && !over {
			in = targets
		}
		select {
		case it, ok := <-in:
			switch {
			case !ok:
				over = true
			case it.err != nil:
				routeErr, over = it.err, true
			default:
				last, next = dl.begin(ctx, it.t, nil), false
				last.backoff = it.backoff
				restart()
			}
		case <-timerC:
			timerC, next = nil, true
		case a := <-dl.begun:
			// The latest attempt's server is greeting: it is no
			// blackhole, so the next target waits for it to fail.
			if a == last {
				timerC = nil
			}
		case a := <-dl.results:
			dl.running--
			greeted := a.conn != nil
			if a.retryPlain && winner == nil && ctxEnded(dl.ctx) == nil {
				// A failed opportunistic handshake: the same address
				// again, in plaintext, before any other target.
				dl.ended(a)
				last, next = dl.begin(ctx, a.Target, a), false
				last.backoff = a.backoff
				restart()
				break
			}
			switch {
			case a.conn == nil:
				// Once the latest attempt has failed there is nothing to
				// wait for: the next starts at once (as net.Dialer's
				// fallback does), and with Stagger 0 only then.
				next = next || a == last || dl.running == 0
			case winner == nil && ctxEnded(dl.ctx) == nil:
				winner, over = a, true
				for _, o := range dl.attempts {
					if o != a {
						o.cancel(errLostRace)
					}
				}
			case winner != nil:
				a.lose(errLostRace)
			default:
				a.lose(ctxEndCause(dl.ctx))
			}
			dl.ended(a) // a loser's conn is closed by now: reported as cancelled
			dl.remember(a, greeted)
		case <-done:
			done, over = nil, true // every attempt's context ends with ctx
		}
	}
	if winner != nil {
		return dl.conn(winner), nil
	}
	if err := ctxEnded(dl.ctx); err != nil {
		if len(dl.attempts) == 0 {
			if routeErr != nil {
				return nil, routeErr
			}
			return nil, ctxError(dl.domain, err)
		}
		return nil, dl.noConnection(err)
	}
	if routeErr != nil && len(dl.attempts) == 0 {
		return nil, routeErr // the route's own verdict: nothing dialled
	}
	return nil, dl.noConnection(nil)
}

// begin starts an attempt on t; prev, when not nil, is the attempt whose
// failed handshake this one retries in plaintext.
func (dl *dialing) begin(ctx context.Context, t Target, prev *attempt) *attempt {
	actx, cancel := context.WithCancelCause(ctx)
	a := &attempt{Attempt: Attempt{Target: t, Start: time.Now()}, n: len(dl.attempts) + 1, cancel: cancel}
	if prev != nil {
		a.plain, a.prevCheck = true, prev.check
	}
	a.begun = func() {
		select {
		case dl.begun <- a: // run receives until every attempt has ended
		case <-actx.Done():
		}
	}
	dl.attempts = append(dl.attempts, a)
	dl.running++
	if r := dl.r; r.Trace != nil {
		e := Event{Step: StepConnect, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: ruleTryInOrder,
			Count: a.n, Message: fmt.Sprintf("attempt %d: connecting to %s [%s] port %s", a.n, t.Host, t.Addr, dl.d.port())}
		if prev != nil {
			// Postfix (smtp_connect.c): "When an opportunistic TLS
			// handshake fails, try the same address again, with TLS
			// disabled."
			e.Rule = ruleOpportunistic
			e.Message += fmt.Sprintf(" again, in plaintext: attempt %d's TLS handshake failed and the %s policy does not require TLS",
				prev.n, t.TLS.mode())
		}
		if dl.running > 1 {
			e.Rule = ruleStagger
			e.Message += fmt.Sprintf(" beside %d earlier attempt(s) still running", dl.running-1)
		}
		r.emit(dl.ctx, e)
	}
	dl.wg.Go(func() {
		dl.try(actx, a)
		cancel(nil)
		dl.results <- a
	})
	return a
}

// ended reports an ended attempt to the trace and, with TLSReports, counts
// its TLS session.
func (dl *dialing) ended(a *attempt) {
	dl.tlsReport(a)
	r := dl.r
	if r.Trace == nil {
		return
	}
	t := a.Target
	if a.conn != nil {
		msg := fmt.Sprintf("attempt %d: %s [%s] greeted after %s: %q", a.n, t.Host, t.Addr,
			roundDuration(a.Duration), a.greeting.String())
		switch {
		case !dl.d.StartTLS:
		case a.state != nil:
			msg = fmt.Sprintf("attempt %d: %s [%s] greeted with %q; session ready over %s after %s", a.n, t.Host, t.Addr,
				a.greeting.String(), describeTLS(*a.state), roundDuration(a.Duration))
		default:
			msg = fmt.Sprintf("attempt %d: %s [%s] greeted with %q; session ready in plaintext after %s", a.n, t.Host, t.Addr,
				a.greeting.String(), roundDuration(a.Duration))
		}
		r.emit(dl.ctx, Event{Step: StepGreeted, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: ruleGreeting,
			Count: a.n, Message: msg})
		return
	}
	rule := ruleTryInOrder
	switch a.Failure {
	case FailRejected:
		rule = ruleGreeting
	case FailMalformed:
		rule = ruleReplyLine
	case FailGreetingTimeout:
		rule = ruleGreetWait
	case FailCancelled:
		rule = ruleStagger
	case FailHello:
		rule = ruleEHLO
	case FailReplyTimeout:
		rule = ruleReplyWait
	case FailTLS:
		rule = policyRule(t.TLS)
		if a.retryPlain {
			rule = ruleOpportunistic
		}
	}
	r.emit(dl.ctx, Event{Step: StepConnectFailed, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: rule,
		Count: a.n, Err: a.Err, Message: fmt.Sprintf("attempt %d: %s", a.n, a.Attempt)})
}

// conn turns the winning attempt into the Conn.
func (dl *dialing) conn(w *attempt) *Conn {
	c := &Conn{Target: w.Target, TLS: w.Target.TLS, Greeting: w.greeting.String(), Domain: dl.domain,
		Elapsed: w.Start.Add(w.Duration).Sub(dl.start), TLSState: w.state, HelloReply: w.hello.String(),
		TLSCheck: w.check}
	if w.check != nil {
		c.TLSResult = resultOf(w.check)
	}
	for _, a := range dl.attempts {
		if a != w {
			c.Attempts = append(c.Attempts, a.Attempt)
		}
	}
	buf := w.greeting.raw
	if w.state == nil { // over TLS nothing from before the handshake is kept (RFC 3207, Section 4.2)
		buf = append(buf, w.buffered...)
	}
	c.Conn = &replayConn{Conn: w.conn, buf: buf}
	return c
}

// noConnection is the error of a Dial that made attempts and got no Conn;
// cause is ctx's error when it ended first.
func (dl *dialing) noConnection(cause error) *Error {
	e := &Error{Domain: dl.domain, Status: statusNoAnswer, Temporary: true, Err: ErrNoConnection, Cause: cause}
	var b strings.Builder
	if cause != nil {
		fmt.Fprintf(&b, "stopped (%v) after %d attempt(s)", cause, len(dl.attempts))
	} else {
		fmt.Fprintf(&b, "%d attempt(s)", len(dl.attempts))
	}
	const shown = 4
	var tlsFirst *attempt // the first host passed over for its TLS policy
	for i, a := range dl.attempts {
		if a.connected {
			e.Status = statusBadConn
		}
		if a.tlsStatus != "" && tlsFirst == nil {
			tlsFirst = a
		}
		e.Attempts = append(e.Attempts, a.Attempt)
		switch {
		case i < shown:
			sep := "; "
			if i == 0 {
				sep = ": "
			}
			b.WriteString(sep + a.Attempt.String())
		case i == shown:
			fmt.Fprintf(&b, "; and %d more", len(dl.attempts)-shown)
		}
	}
	e.Detail = b.String()
	if tlsFirst != nil {
		// No session because of TLS: the policy's failure, not the
		// connection's, is what the sender must see.
		e.Status = tlsFirst.tlsStatus
		if e.Cause == nil {
			e.Cause = tlsFirst.Err
		}
	}
	return e
}

// try runs one attempt: the connect, the greeting and, with StartTLS, the
// session up to TLS.
func (dl *dialing) try(ctx context.Context, a *attempt) {
	d := dl.d
	defer func() { a.Duration = time.Since(a.Start) }()
	t := a.Target
	network := "tcp6"
	if t.Addr.Is4() {
		network = "tcp4"
	}
	timeout := d.connectTimeout()
	cctx, ccancel := context.WithTimeout(ctx, timeout)
	conn, err := d.dial(cctx, network, net.JoinHostPort(t.Addr.String(), d.port()))
	timedOut := cctx.Err() == context.DeadlineExceeded
	ccancel()
	if conn == nil && err == nil {
		err = errors.New("DialContext returned neither a connection nor an error")
	}
	if err != nil {
		if conn != nil {
			_ = conn.Close() // a hook that returned both: the error wins, the socket is not left open
		}
		switch {
		case ctxEnded(ctx) != nil:
			a.Failure, a.Err = FailCancelled, ctxEndCause(ctx)
		case timedOut || isTimeout(err):
			a.Failure, a.Err = FailConnectTimeout, fmt.Errorf("no connection within %s: %w", timeout, err)
		case errors.Is(err, syscall.ECONNREFUSED):
			a.Failure, a.Err = FailRefused, err
		case errors.Is(err, syscall.ECONNRESET):
			// Accepted, then reset before the connect call returned.
			a.Failure, a.Err, a.connected = FailDropped, fmt.Errorf("connection lost before the greeting: %w", err), true
		default:
			a.Failure, a.Err = FailUnreachable, err
		}
		return
	}
	a.conn, a.connected = conn, true
	w := watchConn(ctx, conn)
	dl.converse(a, w)
	if w.end() || ctxEnded(ctx) != nil {
		a.close(false)
		a.Failure, a.Err, a.Reply = FailCancelled, ctxEndCause(ctx), a.greeting.String()
		a.TLSResult, a.TLSState, a.tlsStatus, a.retryPlain = "", nil, "", false
	}
}

// converse reads the greeting of a connected attempt and, with StartTLS,
// runs the session (starttls.go). It leaves a.conn open on success, closes
// it on failure; when ctx ends it returns, leaving try to report it.
func (dl *dialing) converse(a *attempt, w *watch) {
	gt := dl.d.greetingTimeout()
	w.arm(gt)
	br := bufio.NewReaderSize(a.conn, maxReplyLine)
	rep, err := readGreeting(br, a.signalBegun)
	timedOut := w.disarm()
	a.greeting = rep
	if w.ended() {
		return
	}
	switch {
	case timedOut:
		a.Failure, a.Err = FailGreetingTimeout, fmt.Errorf("no complete greeting within %s (connection closed: it has no deadlines)", gt)
	case errors.Is(err, errMalformed):
		a.Failure, a.Err = FailMalformed, err
	case err != nil && isTimeout(err):
		a.Failure, a.Err = FailGreetingTimeout, fmt.Errorf("no complete greeting within %s: %w", gt, err)
	case err != nil:
		a.Failure, a.Err = FailDropped, fmt.Errorf("connection lost before the greeting: %w", err)
	case rep.code == 220:
		if !dl.d.StartTLS {
			a.buffered = buffered(br)
			return
		}
		// The server is there: with Stagger, the next target waits for
		// this attempt to fail, through EHLO and TLS.
		a.signalBegun()
		dl.session(a, w, br)
		return
	case rep.code >= 400:
		a.Failure, a.Err = FailRejected, fmt.Errorf("greeting rejected: %q", rep.String())
	default:
		a.Failure, a.Err = FailMalformed, fmt.Errorf("%w: reply code %d is no greeting: %q", errMalformed, rep.code, rep.String())
	}
	a.Reply = rep.String()
	a.close(a.Failure == FailRejected)
}

// A watch bounds the reads and writes of an attempt: each exchange by its
// own timeout (arm), and all of them by the attempt's context, whose end
// puts the socket's deadline in the past at once. On a connection whose
// deadlines cannot be set (a DialContext hook's), both close it instead.
// Either callback may be running when a read ends: disarm and end wait for
// it, so that Dial never returns before a Close it started has returned.
type watch struct {
	conn    net.Conn
	stop    func() bool
	stopped chan struct{} // closed when the context's callback has returned

	mu          sync.Mutex
	cancelled   bool // ctx ended: the deadline is in the past, or conn closed
	noDeadlines bool
	timer       *time.Timer
	expired     chan struct{} // closed when timer's callback has closed conn
}

func watchConn(ctx context.Context, conn net.Conn) *watch {
	w := &watch{conn: conn, stopped: make(chan struct{})}
	w.stop = context.AfterFunc(ctx, func() {
		defer close(w.stopped)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.cancelled = true
		if w.noDeadlines || conn.SetDeadline(time.Unix(1, 0)) != nil {
			_ = conn.Close()
		}
	})
	return w
}

// arm bounds the next exchange by d from now, unless ctx has ended. The
// lock orders it with the context's callback: a deadline set here never
// replaces the past one that cancels.
func (w *watch) arm(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancelled {
		return
	}
	if !w.noDeadlines && w.conn.SetDeadline(time.Now().Add(d)) == nil {
		return
	}
	w.noDeadlines = true
	expired, conn := make(chan struct{}), w.conn
	w.timer, w.expired = time.AfterFunc(d, func() { defer close(expired); _ = conn.Close() }), expired
}

// disarm ends the bound of arm. It reports whether the timer of a
// connection without deadlines expired and closed it; with deadlines, an
// expired one shows as a timeout error of the read or write.
func (w *watch) disarm() bool {
	w.mu.Lock()
	t, expired := w.timer, w.expired
	w.timer = nil
	w.mu.Unlock()
	if t == nil || t.Stop() {
		return false
	}
	<-expired
	return true
}

// ended reports whether ctx has ended the attempt.
func (w *watch) ended() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancelled
}

// end stops watching ctx and clears the deadline; it reports whether ctx
// had ended first (the socket is unusable then).
func (w *watch) end() bool {
	if !w.stop() {
		<-w.stopped
		return true
	}
	if !w.noDeadlines {
		_ = w.conn.SetDeadline(time.Time{})
	}
	return false
}

// close closes the attempt's connection, after a QUIT when quit is set.
func (a *attempt) close(quit bool) {
	if a.conn == nil {
		return
	}
	if quit {
		_ = a.conn.SetWriteDeadline(time.Now().Add(quitTimeout))
		_, _ = io.WriteString(a.conn, "QUIT\r\n")
	}
	_ = a.conn.Close()
	a.conn = nil
}

// lose closes an attempt that greeted after the winner (or after ctx ended).
func (a *attempt) lose(cause error) {
	a.Reply = a.greeting.String()
	a.close(true)
	a.Failure, a.Err = FailCancelled, cause
}

// ctxEnded is ctx.Err(), or context.DeadlineExceeded once ctx's deadline has
// passed though its timer has not fired yet: a socket deadline set from it
// (net.Dialer sets one) can fire first.
func ctxEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// ctxEndCause is context.Cause(ctx), as ctxEnded sees it.
func ctxEndCause(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return ctxEnded(ctx)
}

// isTimeout reports whether err is a timeout (a deadline reached).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// roundDuration rounds d for messages: to 0.1 ms below a second, to 1 ms
// above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// replayConn is a connection whose reading starts with bytes already read
// from it: the greeting and anything the server sent after it.
type replayConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte
	drained atomic.Bool // buf is empty: read the socket directly
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.drained.Load() {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	if len(c.buf) == 0 {
		c.drained.Store(true)
		c.mu.Unlock()
		return c.Conn.Read(p)
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	c.mu.Unlock()
	return n, nil
}
