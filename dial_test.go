package mxroute

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/smtptest"
)

// testNet is a DialContext hook that maps the documentation addresses of a
// test zone to loopback servers and records every connection.
type testNet struct {
	mu      sync.Mutex
	to      map[string]string // "192.0.2.1:25" → "127.0.0.1:port"
	calls   []string          // "tcp4 192.0.2.1:25", in the order dialled
	open    int               // connections dialled and not yet closed, failed dials excluded
	dialing int               // dials in progress
	maxBusy int               // the most attempts (dialing or open) at once
}

func newTestNet() *testNet { return &testNet{to: map[string]string{}} }

// set maps address ("192.0.2.1:25") to the loopback address real.
func (n *testNet) set(address, real string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.to[address] = real
}

func (n *testNet) dial(ctx context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	n.calls = append(n.calls, network+" "+address)
	real, ok := n.to[address]
	n.dialing++
	n.maxBusy = max(n.maxBusy, n.dialing+n.open)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.dialing--
		n.mu.Unlock()
	}()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.EHOSTUNREACH}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", real)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.open++
	n.mu.Unlock()
	return &countedConn{Conn: c, n: n}, nil
}

// dialed returns the connections asked for, in order.
func (n *testNet) dialed() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.calls...)
}

// stillOpen returns the number of connections not closed yet.
func (n *testNet) stillOpen() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.open
}

type countedConn struct {
	net.Conn
	n    *testNet
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.n.mu.Lock()
		c.n.open--
		c.n.mu.Unlock()
	})
	return c.Conn.Close()
}

// dialZone is the zone of the Dialer tests: every domain's mail hosts have
// documentation addresses, which testNet maps to loopback servers.
const dialZone = `
$ORIGIN test.
@        3600 IN SOA ns hostmaster 1 3600 600 86400 300
@        IN NS ns
ns       IN A 192.0.2.53
; one host
one      IN MX 10 mx.one
mx.one   IN A 192.0.2.1
; two hosts, preferences 10 and 20
two      IN MX 10 mx1.two
         IN MX 20 mx2.two
mx1.two  IN A 192.0.2.11
mx2.two  IN A 192.0.2.12
; three hosts
three    IN MX 10 mx1.three
         IN MX 20 mx2.three
         IN MX 30 mx3.three
mx1.three IN A 192.0.2.21
mx2.three IN A 192.0.2.22
mx3.three IN A 192.0.2.23
; a dual-stack host
dual     IN MX 10 mx.dual
mx.dual  IN AAAA 2001:db8::31
         IN A    192.0.2.31
; no mail, no such host
null     IN MX 0 .
         IN A 192.0.2.40
nomx     IN TXT "nothing"
`

// dialTest returns a Dialer over dialZone through a fresh testNet, with
// timeouts short enough for tests (each test sets what it measures).
func dialTest(t *testing.T) (*Dialer, *testNet) {
	t.Helper()
	n := newTestNet()
	d := &Dialer{
		Router:          &Router{Resolver: testZone(t, "test.", dialZone)},
		DialContext:     n.dial,
		ConnectTimeout:  10 * time.Second,
		GreetingTimeout: 10 * time.Second,
	}
	return d, n
}

// quit ends a test's Conn as a client would.
func quit(t *testing.T, c *Conn) {
	t.Helper()
	_, _ = io.WriteString(c, "QUIT\r\n")
	require.NoError(t, c.Close())
}

// TestDialGreeting checks the greetings that make a Conn, and that reading
// the Conn starts with the greeting's very bytes and loses nothing the
// server sent after it.
func TestDialGreeting(t *testing.T) {
	tests := []struct {
		reason   string
		play     smtptest.Behaviour
		greeting string // Conn.Greeting
		wire     string // what reading the Conn gives first
	}{
		{"a one-line 220", smtptest.Greet("220 mx.one.test ESMTP ready"),
			"220 mx.one.test ESMTP ready", "220 mx.one.test ESMTP ready\r\n"},
		{"a multi-line 220 is read whole (RFC 5321, Section 4.2.1)",
			smtptest.Greet("220-mx.one.test ESMTP", "220-no UCE", "220 ready"),
			"220-mx.one.test ESMTP\n220-no UCE\n220 ready", "220-mx.one.test ESMTP\r\n220-no UCE\r\n220 ready\r\n"},
		{"a bare code with no text is a reply (Section 4.2)", smtptest.Write("220\r\n"), "220", "220\r\n"},
		{"bare LF line ends are accepted, as net/textproto does", smtptest.Write("220-a\n220 b\n"), "220-a\n220 b", "220-a\n220 b\n"},
		{"a slow greeter within GreetingTimeout", smtptest.After(200*time.Millisecond, smtptest.Greet("220 slow")),
			"220 slow", "220 slow\r\n"},
		{"a greeting written in pieces", piecemeal("220-mx.one.test\r\n220 ok\r\n"),
			"220-mx.one.test\n220 ok", "220-mx.one.test\r\n220 ok\r\n"},
		{"bytes sent after the greeting are not lost (an early talker)",
			smtptest.Write("220 hi\r\n250 too early\r\n"), "220 hi", "220 hi\r\n250 too early\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			s := smtptest.Serve(t, tt.play)
			n.set("192.0.2.1:25", s.Addr)
			c, err := d.Dial(t.Context(), "one.test")
			require.NoError(t, err)
			assert.Equal(t, tt.greeting, c.Greeting)
			assert.Equal(t, Target{Host: "mx.one.test", Preference: 10, Addr: netip.MustParseAddr("192.0.2.1")}, c.Target)
			assert.Equal(t, "one.test", c.Domain)
			assert.Empty(t, c.Attempts)
			assert.Positive(t, c.Elapsed)
			got := make([]byte, len(tt.wire))
			_, err = io.ReadFull(c, got)
			require.NoError(t, err)
			assert.Equal(t, tt.wire, string(got))
			quit(t, c)
			require.True(t, s.WaitClosed(t.Context(), 1))
			_, _, received := s.Stats()
			assert.Equal(t, []string{"QUIT\r\n"}, received, "what the client wrote reached the server")
		})
	}
}

// piecemeal writes s a few bytes at a time.
func piecemeal(s string) smtptest.Behaviour {
	return func(c *net.TCPConn) bool {
		for i := 0; i < len(s); i += 3 {
			_, _ = io.WriteString(c, s[i:min(i+3, len(s))])
			time.Sleep(2 * time.Millisecond)
		}
		return true
	}
}

// TestDialSkips checks every way a target fails: the next one is tried and
// the Conn says why the first was passed over.
func TestDialSkips(t *testing.T) {
	long := "220 " + strings.Repeat("x", maxReplyLine)
	tests := []struct {
		reason  string
		play    smtptest.Behaviour        // the first host's server, or
		addr    func(t testing.TB) string // its address ("": no route)
		failure Failure
		reply   string
		quit    bool // QUIT was sent before closing
	}{
		{reason: "a closed port refuses", addr: smtptest.ClosedPort, failure: FailRefused},
		{reason: "a blackhole lasts until ConnectTimeout", addr: blackhole, failure: FailConnectTimeout},
		{reason: "no route to the address", addr: func(testing.TB) string { return "" }, failure: FailUnreachable},
		{reason: "a server that says nothing lasts until GreetingTimeout", play: smtptest.Silent(), failure: FailGreetingTimeout},
		{reason: "a greeting slower than GreetingTimeout", play: smtptest.After(5*time.Second, smtptest.Greet("220 late")),
			failure: FailGreetingTimeout},
		{reason: "554 instead of 220 (RFC 5321, Section 3.1), then QUIT", play: smtptest.Greet("554 5.7.1 no SMTP service here"),
			failure: FailRejected, reply: "554 5.7.1 no SMTP service here", quit: true},
		{reason: "421 (service not available, RFC 5321, Section 3.8)", play: smtptest.Greet("421 4.3.2 too busy"),
			failure: FailRejected, reply: "421 4.3.2 too busy", quit: true},
		{reason: "a multi-line 554 is read whole", play: smtptest.Greet("554-go away", "554 really"),
			failure: FailRejected, reply: "554-go away\n554 really", quit: true},
		{reason: "a reset right after accept", play: smtptest.Reset(), failure: FailDropped},
		{reason: "closed before any greeting", play: smtptest.Hangup(""), failure: FailDropped},
		{reason: "closed in the middle of a multi-line greeting", play: smtptest.Hangup("220-first line\r\n"),
			failure: FailDropped, reply: "220-first line"},
		{reason: "not SMTP at all", play: smtptest.Greet("SSH-2.0-OpenSSH_9.6"), failure: FailMalformed},
		{reason: "a 250 is no greeting", play: smtptest.Greet("250 hello"), failure: FailMalformed, reply: "250 hello"},
		{reason: "a 220 continued by another code (Section 4.2.1)", play: smtptest.Greet("220-a", "250 b"),
			failure: FailMalformed, reply: "220-a"},
		{reason: "a line longer than the limit", play: smtptest.Greet(long), failure: FailMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			d.ConnectTimeout, d.GreetingTimeout = 300*time.Millisecond, 300*time.Millisecond
			var first *smtptest.Server
			if tt.play != nil {
				first = smtptest.Serve(t, tt.play)
				n.set("192.0.2.11:25", first.Addr)
			} else if real := tt.addr(t); real != "" {
				n.set("192.0.2.11:25", real)
			}
			n.set("192.0.2.12:25", smtptest.Serve(t, smtptest.Greet("220 mx2.two.test")).Addr)
			c, err := d.Dial(t.Context(), "two.test")
			require.NoError(t, err)
			defer quit(t, c)
			assert.Equal(t, "mx2.two.test", c.Target.Host)
			assert.Equal(t, "220 mx2.two.test", c.Greeting)
			require.Len(t, c.Attempts, 1)
			a := c.Attempts[0]
			assert.Equal(t, tt.failure, a.Failure, "%v", a.Err)
			assert.Equal(t, tt.reply, a.Reply)
			assert.Error(t, a.Err)
			assert.Equal(t, "mx1.two.test", a.Target.Host)
			assert.Equal(t, netip.MustParseAddr("192.0.2.11"), a.Target.Addr)
			assert.Positive(t, a.Duration)
			assert.False(t, a.Start.IsZero())
			assert.Equal(t, 1, n.stillOpen(), "only the Conn is open")
			assert.Equal(t, []string{"tcp4 192.0.2.11:25", "tcp4 192.0.2.12:25"}, n.dialed())
			if tt.quit {
				require.True(t, first.WaitClosed(t.Context(), 1))
				_, _, got := first.Stats()
				assert.Equal(t, []string{"QUIT\r\n"}, got)
			}
		})
	}
}

func blackhole(t testing.TB) string { return smtptest.ServeBlackhole(t).Addr }

// serve starts a server playing b for the test and returns its address.
func serve(b smtptest.Behaviour) func(t testing.TB) string {
	return func(t testing.TB) string { return smtptest.Serve(t, b).Addr }
}

// TestDialNoConnection checks the error when no target greets: temporary,
// 4.4.1 when no TCP connection was made, 4.4.2 when one was, and every
// attempt in it.
func TestDialNoConnection(t *testing.T) {
	tests := []struct {
		reason   string
		first    func(t testing.TB) string
		second   func(t testing.TB) string
		status   string
		failures []Failure
	}{
		{"both refuse: no answer", smtptest.ClosedPort, smtptest.ClosedPort, "4.4.1", []Failure{FailRefused, FailRefused}},
		{"a timeout and a refusal: no answer", blackhole, smtptest.ClosedPort,
			"4.4.1", []Failure{FailConnectTimeout, FailRefused}},
		{"refused, then a 421: a bad connection", smtptest.ClosedPort, serve(smtptest.Greet("421 busy")),
			"4.4.2", []Failure{FailRefused, FailRejected}},
		{"every host greets 5xx: still a deferral (Postfix smtp_skip_5xx_greeting)",
			serve(smtptest.Greet("554 no")), serve(smtptest.Greet("550 no")), "4.4.2", []Failure{FailRejected, FailRejected}},
		{"silent and dropped", serve(smtptest.Silent()), serve(smtptest.Reset()), "4.4.2",
			[]Failure{FailGreetingTimeout, FailDropped}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			d.ConnectTimeout, d.GreetingTimeout = 200*time.Millisecond, 200*time.Millisecond
			n.set("192.0.2.11:25", tt.first(t))
			n.set("192.0.2.12:25", tt.second(t))
			c, err := d.Dial(t.Context(), "two.test")
			require.Nil(t, c)
			require.ErrorIs(t, err, ErrNoConnection)
			assert.True(t, IsTemporary(err))
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.status, e.Status)
			assert.Equal(t, "two.test", e.Domain)
			var got []Failure
			for _, a := range e.Attempts {
				got = append(got, a.Failure)
				assert.Contains(t, err.Error(), a.Target.Addr.String(), "the message names every address")
			}
			assert.Equal(t, tt.failures, got)
			assert.Zero(t, n.stillOpen())
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "a connect timeout is not the caller's deadline")
		})
	}
}

// TestDialRouteErrors checks that the route's own errors come back as
// Route gives them, with no connection attempted.
func TestDialRouteErrors(t *testing.T) {
	tests := []struct {
		reason string
		domain string
		is     error
	}{
		{"a null MX bounces with no dial (RFC 7505)", "null.test", ErrNullMX},
		{"no such domain", "nowhere.test", ErrNoSuchDomain},
		{"no MX, no address", "nomx.test", ErrNoMailHost},
		{"malformed", "bad..test", ErrBadDomain},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			var steps []Step
			d.Router.Trace = func(_ context.Context, e Event) {
				if e.Step >= StepConnect {
					steps = append(steps, e.Step)
				}
			}
			c, err := d.Dial(t.Context(), tt.domain)
			require.Nil(t, c)
			require.ErrorIs(t, err, tt.is)
			_, want := d.Router.Route(t.Context(), tt.domain)
			assert.Equal(t, want, err, "the route's error, unchanged")
			assert.Empty(t, n.dialed(), "no connection attempted")
			assert.Equal(t, []Step{StepNoConnection}, steps)
		})
	}
}

// TestDialTarget: DialTarget dials the one target it is given, as Dial
// dials each: no route, no other target, the Dialer's rules for that one
// attempt; an address the Router never routes to is not dialled.
func TestDialTarget(t *testing.T) {
	mx2 := Target{Host: "mx2.two.test", Preference: 20, Addr: netip.MustParseAddr("192.0.2.12")}
	loop := Target{Host: "mx.loop.test", Preference: 10, Addr: netip.MustParseAddr("127.0.0.1")}
	tests := []struct {
		reason    string
		target    Target
		allowLoop bool
		mx2       smtptest.Behaviour // nil: a closed port
		failures  []Failure          // the error's attempts; nil: a Conn
		is        error
		temporary bool
		dialed    []string
	}{
		{reason: "the target given, though MX 10 would greet first", target: mx2, mx2: smtptest.Greet("220 mx2"),
			dialed: []string{"tcp4 192.0.2.12:25"}},
		{reason: "a refusal is the answer: no other target follows", target: mx2,
			failures: []Failure{FailRefused}, is: ErrNoConnection, temporary: true, dialed: []string{"tcp4 192.0.2.12:25"}},
		{reason: "a 554 greeting: rejected, QUIT", target: mx2, mx2: smtptest.Greet("554 go away"),
			failures: []Failure{FailRejected}, is: ErrNoConnection, temporary: true, dialed: []string{"tcp4 192.0.2.12:25"}},
		{reason: "loopback without Router.AllowLoopback: never dialled (RFC 6890), as the route drops it", target: loop,
			is: ErrNoAddress},
		{reason: "an invalid address: never dialled", target: Target{Host: "x.test"}, is: ErrNoAddress},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			n.set("192.0.2.11:25", smtptest.Serve(t, smtptest.Greet("220 mx1")).Addr)
			if tt.mx2 != nil {
				n.set("192.0.2.12:25", smtptest.Serve(t, tt.mx2).Addr)
			} else {
				n.set("192.0.2.12:25", smtptest.ClosedPort(t))
			}
			d.Router.AllowLoopback = tt.allowLoop
			c, err := d.DialTarget(t.Context(), "two.test", tt.target)
			assert.Equal(t, tt.dialed, n.dialed())
			if tt.is == nil {
				require.NoError(t, err)
				defer quit(t, c)
				assert.Equal(t, tt.target, c.Target)
				assert.Equal(t, "220 "+tt.target.Host[:3], c.Greeting)
				assert.Empty(t, c.Attempts)
				return
			}
			require.Nil(t, c)
			require.ErrorIs(t, err, tt.is)
			assert.Equal(t, tt.temporary, IsTemporary(err))
			var e *Error
			require.ErrorAs(t, err, &e)
			fs, _ := failures(e.Attempts)
			assert.Equal(t, tt.failures, fs)
			assert.Zero(t, n.stillOpen())
		})
	}
	// With Router.AllowLoopback the lab's loopback address is dialled.
	d, n := dialTest(t)
	d.Router.AllowLoopback = true
	n.set("127.0.0.1:25", smtptest.Serve(t, smtptest.Greet("220 lab")).Addr)
	c, err := d.DialTarget(t.Context(), "loop.test", loop)
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, []string{"tcp4 127.0.0.1:25"}, n.dialed())

	// With StartTLS, a handshake the target's policy (nil) does not
	// require is retried once, on the same address, in plaintext.
	d, n = startTLSTest(t)
	n.set("192.0.2.12:25", (&smtpScript{upgrade: breakTLS}).serve(t))
	c, err = d.DialTarget(t.Context(), "two.test", mx2)
	require.NoError(t, err)
	defer c.Close()
	assert.Nil(t, c.TLSState)
	assert.Equal(t, []string{"tcp4 192.0.2.12:25", "tcp4 192.0.2.12:25"}, n.dialed())
	fs, rs := failures(c.Attempts)
	assert.Equal(t, []Failure{FailTLS}, fs)
	assert.Equal(t, []TLSResult{dane.ValidationFailure}, rs)
}

// TestDialStagger checks RFC 8305's staggered attempts: a silent or slow
// target does not hold up the next one beyond Stagger, the first to greet
// wins, the others are cancelled and closed, and targets start in route
// order. The ConnectTimeout and GreetingTimeout are a minute: an attempt
// that was not cancelled would show as a timeout, and a Dial that waited
// for one would run into the test's own 20 s deadline.
func TestDialStagger(t *testing.T) {
	tests := []struct {
		reason   string
		domain   string
		hosts    []func(t testing.TB) string
		winner   string
		failures []Failure
		stagger  time.Duration // 0: 20 ms
	}{
		{"MX 10 blackholed: MX 20 starts after Stagger and wins", "two.test",
			[]func(t testing.TB) string{blackhole, serve(smtptest.Greet("220 two"))},
			"mx2.two.test", []Failure{FailCancelled}, 0},
		{"MX 10 silent after the connect: the same", "two.test",
			[]func(t testing.TB) string{serve(smtptest.Silent()), serve(smtptest.Greet("220 two"))},
			"mx2.two.test", []Failure{FailCancelled}, 0},
		{"two blackholes, then the live host: started in order, the third wins", "three.test",
			[]func(t testing.TB) string{blackhole, blackhole, serve(smtptest.Greet("220 three"))},
			"mx3.three.test", []Failure{FailCancelled, FailCancelled}, 0},
		{"a refusal starts the next at once, a blackhole waits for Stagger", "three.test",
			[]func(t testing.TB) string{smtptest.ClosedPort, blackhole, serve(smtptest.Greet("220 three"))},
			"mx3.three.test", []Failure{FailRefused, FailCancelled}, 0},
		{"the first host greets fast: nothing else is tried", "two.test",
			[]func(t testing.TB) string{serve(smtptest.Greet("220 one")), blackhole},
			"mx1.two.test", nil, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			d.Stagger = cmp.Or(tt.stagger, 20*time.Millisecond)
			d.ConnectTimeout, d.GreetingTimeout = time.Minute, time.Minute
			prefix := map[string]string{"two.test": "192.0.2.1", "three.test": "192.0.2.2"}[tt.domain]
			var want []string
			for i, h := range tt.hosts {
				addr := fmt.Sprintf("%s%d:25", prefix, i+1)
				n.set(addr, h(t))
				want = append(want, "tcp4 "+addr)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			c, err := d.Dial(ctx, tt.domain)
			require.NoError(t, err)
			defer quit(t, c)
			assert.Equal(t, tt.winner, c.Target.Host)
			var got []Failure
			for _, a := range c.Attempts {
				got = append(got, a.Failure)
				if a.Failure == FailCancelled {
					assert.ErrorIs(t, a.Err, errLostRace)
				}
			}
			assert.Equal(t, tt.failures, got)
			assert.Equal(t, want[:len(tt.failures)+1], n.dialed(), "started in route order, none after the winner")
			assert.Equal(t, 1, n.stillOpen(), "every loser is closed when Dial returns")
		})
	}
}

// TestDialSlowLoserClosed checks that a connected loser is closed: the
// server of MX 10, slower than Stagger, sees its client go.
func TestDialSlowLoserClosed(t *testing.T) {
	d, n := dialTest(t)
	d.Stagger = 20 * time.Millisecond
	slow := smtptest.Serve(t, smtptest.After(time.Minute, smtptest.Greet("220 slow")))
	n.set("192.0.2.11:25", slow.Addr)
	n.set("192.0.2.12:25", smtptest.Serve(t, smtptest.Greet("220 fast")).Addr)
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, "220 fast", c.Greeting)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	assert.True(t, slow.WaitClosed(ctx, 1), "the slow server saw its connection closed")
}

// TestDialOneAtATime checks that Stagger 0 never has two attempts at once.
func TestDialOneAtATime(t *testing.T) {
	d, n := dialTest(t)
	d.GreetingTimeout = 100 * time.Millisecond
	n.set("192.0.2.21:25", smtptest.Serve(t, smtptest.Silent()).Addr)
	n.set("192.0.2.22:25", smtptest.Serve(t, smtptest.Greet("421 busy")).Addr)
	n.set("192.0.2.23:25", smtptest.Serve(t, smtptest.Greet("220 three")).Addr)
	c, err := d.Dial(t.Context(), "three.test")
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, "mx3.three.test", c.Target.Host)
	assert.Equal(t, 1, n.maxBusy, "one attempt at a time")
	require.Len(t, c.Attempts, 2)
	assert.Equal(t, FailGreetingTimeout, c.Attempts[0].Failure)
	assert.Equal(t, FailRejected, c.Attempts[1].Failure)
	assert.False(t, c.Attempts[1].Start.Before(c.Attempts[0].Start.Add(c.Attempts[0].Duration)),
		"the second starts when the first has ended")
}

// TestDialContext checks that ctx ending stops everything: a connect, a
// greeting, the route itself; the error answers errors.Is(err, ctx.Err()).
func TestDialContext(t *testing.T) {
	tests := []struct {
		reason string
		serve  func(t testing.TB) string
		domain string
	}{
		{"during a blackholed connect", blackhole, "one.test"},
		{"while waiting for a greeting", serve(smtptest.Silent()), "one.test"},
	}
	for _, tt := range tests {
		for _, stagger := range []time.Duration{0, 20 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s, stagger %v", tt.reason, stagger), func(t *testing.T) {
				d, n := dialTest(t)
				d.Stagger = stagger
				d.ConnectTimeout, d.GreetingTimeout = time.Minute, time.Minute
				n.set("192.0.2.1:25", tt.serve(t))
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				defer cancel()
				c, err := d.Dial(ctx, tt.domain)
				require.Nil(t, c)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.ErrorIs(t, err, ErrNoConnection)
				assert.True(t, IsTemporary(err))
				var e *Error
				require.ErrorAs(t, err, &e)
				require.Len(t, e.Attempts, 1)
				assert.Equal(t, FailCancelled, e.Attempts[0].Failure)
				assert.ErrorIs(t, e.Attempts[0].Err, context.DeadlineExceeded)
				assert.Zero(t, n.stillOpen(), "the socket is closed")
			})
		}
	}
	t.Run("cancelled before the call", func(t *testing.T) {
		d, n := dialTest(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := d.Dial(ctx, "one.test")
		require.ErrorIs(t, err, context.Canceled)
		assert.True(t, IsTemporary(err))
		assert.Empty(t, n.dialed())
	})
	t.Run("while the route is still resolving", func(t *testing.T) {
		d, n := dialTest(t)
		d.Router.Resolver = hangOn(d.Router.Resolver, "mx.one.test.")
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := d.Dial(ctx, "one.test")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, IsTemporary(err))
		assert.Empty(t, n.dialed())
	})
}

// hangOn returns res, except that questions about name never get an
// answer: they end with their context.
func hangOn(res Resolver, name string) Resolver {
	return ResolverFunc(func(ctx context.Context, qname string, qtype uint16) (*dns.Msg, error) {
		if qname == name {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return res.Resolve(ctx, qname, qtype)
	})
}

// TestDialStreams checks that the first connection does not wait for the
// last host's addresses: MX 20's lookups never answer, yet MX 10's Conn
// comes, and Dial's return cancels those lookups (goleak checks).
func TestDialStreams(t *testing.T) {
	d, n := dialTest(t)
	d.Router.Resolver = hangOn(d.Router.Resolver, "mx2.two.test.")
	n.set("192.0.2.11:25", smtptest.Serve(t, smtptest.Greet("220 one")).Addr)
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, "mx1.two.test", c.Target.Host)
}

// TestDialNetwork checks what the DialContext hook is given: "tcp6" or
// "tcp4" by family, the address with its port, in route order.
func TestDialNetwork(t *testing.T) {
	for _, port := range []int{0, 2525} {
		t.Run(fmt.Sprint("port ", port), func(t *testing.T) {
			d, n := dialTest(t)
			d.Port = port
			want := 25
			if port != 0 {
				want = port
			}
			n.set(fmt.Sprintf("192.0.2.31:%d", want), smtptest.Serve(t, smtptest.Greet("220 v4")).Addr)
			c, err := d.Dial(t.Context(), "dual.test")
			require.NoError(t, err)
			defer quit(t, c)
			assert.Equal(t, []string{fmt.Sprintf("tcp6 [2001:db8::31]:%d", want), fmt.Sprintf("tcp4 192.0.2.31:%d", want)}, n.dialed())
			require.Len(t, c.Attempts, 1)
			assert.Equal(t, FailUnreachable, c.Attempts[0].Failure)
		})
	}
}

// noDeadlines is a connection whose deadlines cannot be set, as some
// tunnels' are.
type noDeadlines struct{ net.Conn }

func (noDeadlines) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (noDeadlines) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (noDeadlines) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }

// TestDialNoDeadlines checks that a connection without deadlines still
// gets its greeting timeout and its cancellation: it is closed.
func TestDialNoDeadlines(t *testing.T) {
	d, n := dialTest(t)
	d.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := n.dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return noDeadlines{c}, nil
	}
	d.GreetingTimeout = 100 * time.Millisecond
	silent := smtptest.Serve(t, smtptest.Silent())
	n.set("192.0.2.11:25", silent.Addr)
	n.set("192.0.2.12:25", smtptest.Serve(t, smtptest.Greet("220 two")).Addr)
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	defer quit(t, c)
	require.Len(t, c.Attempts, 1)
	assert.Equal(t, FailGreetingTimeout, c.Attempts[0].Failure, "%v", c.Attempts[0].Err)
	assert.Equal(t, 1, n.stillOpen())

	d.GreetingTimeout = time.Minute
	n.set("192.0.2.1:25", silent.Addr)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = d.Dial(ctx, "one.test")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, n.stillOpen(), "the cancelled connection is closed")
}

// TestDialZeroRouter checks a Dialer with no Router: an address literal
// needs no DNS.
func TestDialZeroRouter(t *testing.T) {
	n := newTestNet()
	n.set("192.0.2.7:25", smtptest.Serve(t, smtptest.Greet("220 literal")).Addr)
	d := &Dialer{DialContext: n.dial}
	c, err := d.Dial(t.Context(), "[192.0.2.7]")
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, "[192.0.2.7]", c.Target.Host)
}

// TestDialTrace checks that each attempt is reported with its own Steps,
// in order.
func TestDialTrace(t *testing.T) {
	d, n := dialTest(t)
	var mu sync.Mutex
	var got []string
	d.Router.Trace = func(_ context.Context, e Event) {
		if e.Step < StepConnect {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %d %s", e.Step, e.Count, e.Host))
		switch e.Step {
		case StepConnectFailed, StepNoConnection:
			assert.Error(t, e.Err)
		default:
			assert.NoError(t, e.Err)
		}
		assert.NotEmpty(t, e.Message)
	}
	n.set("192.0.2.11:25", smtptest.ClosedPort(t))
	n.set("192.0.2.12:25", smtptest.Serve(t, smtptest.Greet("220 two")).Addr)
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	quit(t, c)
	assert.Equal(t, []string{
		"connect 1 mx1.two.test", "connect-failed 1 mx1.two.test",
		"connect 2 mx2.two.test", "greeted 2 mx2.two.test",
	}, got)

	got = nil
	n.set("192.0.2.12:25", smtptest.ClosedPort(t))
	_, err = d.Dial(t.Context(), "two.test")
	require.Error(t, err)
	assert.Equal(t, []string{
		"connect 1 mx1.two.test", "connect-failed 1 mx1.two.test",
		"connect 2 mx2.two.test", "connect-failed 2 mx2.two.test", "no-connection 2 ",
	}, got)
}

// TestFailureString checks the names of the failures.
func TestFailureString(t *testing.T) {
	assert.Equal(t, "connect-timeout", FailConnectTimeout.String())
	assert.Equal(t, "cancelled", FailCancelled.String())
	assert.Equal(t, "Failure(0)", Failure(0).String(), "the zero Failure is no failure")
	assert.Equal(t, "Failure(99)", Failure(99).String())
	for f := FailRefused; f <= FailCancelled; f++ {
		assert.NotContains(t, f.String(), "Failure(", "every failure has a name")
	}
}

// TestAttemptString checks the one-line form of an Attempt.
func TestAttemptString(t *testing.T) {
	a := Attempt{Target: Target{Host: "mx.example", Addr: netip.MustParseAddr("192.0.2.1")}, Duration: 3 * time.Millisecond,
		Failure: FailRejected, Err: errors.New(`greeting rejected: "421 busy"`)}
	assert.Equal(t, `mx.example [192.0.2.1]: rejected after 3ms: greeting rejected: "421 busy"`, a.String())
}

// TestDialLateGreeterLoses checks an attempt that greets when another has
// already won: it is closed with a QUIT and reported as cancelled, with
// the greeting it gave. The trace callback of the third attempt's start
// holds Dial's loop while both servers greet, so that both greetings are
// in when it decides.
func TestDialLateGreeterLoses(t *testing.T) {
	d, n := dialTest(t)
	d.Stagger = 10 * time.Millisecond
	d.ConnectTimeout, d.GreetingTimeout = time.Minute, time.Minute
	greet := make(chan struct{})
	var greeted sync.WaitGroup
	greeted.Add(2)
	onSignal := func(text string) smtptest.Behaviour {
		return func(c *net.TCPConn) bool {
			select {
			case <-greet:
			case <-t.Context().Done():
				return true
			}
			_, _ = io.WriteString(c, text+"\r\n")
			greeted.Done()
			return true
		}
	}
	s1 := smtptest.Serve(t, onSignal("220 one"))
	s2 := smtptest.Serve(t, onSignal("220 two"))
	n.set("192.0.2.21:25", s1.Addr)
	n.set("192.0.2.22:25", s2.Addr)
	n.set("192.0.2.23:25", blackhole(t))
	var greetedSteps int // StepGreeted is reported from Dial's loop only
	d.Router.Trace = func(_ context.Context, e Event) {
		if e.Step == StepGreeted {
			greetedSteps++
		}
		if e.Step == StepConnect && e.Count == 3 {
			close(greet)
			greeted.Wait()
			time.Sleep(100 * time.Millisecond) // for both clients to read their greeting
		}
	}
	c, err := d.Dial(t.Context(), "three.test")
	require.NoError(t, err)
	defer quit(t, c)
	require.Len(t, c.Attempts, 2)
	late, loser := c.Attempts[0], s2 // in the order started: the other of mx1 and mx2, then mx3
	if c.Target.Host == "mx2.three.test" {
		loser = s1
	}
	require.NotEqual(t, c.Target.Host, late.Target.Host)
	assert.Equal(t, FailCancelled, late.Failure)
	assert.ErrorIs(t, late.Err, errLostRace)
	assert.Regexp(t, `^220 (one|two)$`, late.Reply, "the loser's greeting is kept")
	assert.Equal(t, FailCancelled, c.Attempts[1].Failure, "the blackholed third")
	assert.Equal(t, 1, greetedSteps, "only the winner is reported greeted; the loser as cancelled")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.True(t, loser.WaitClosed(ctx, 1), "the loser's connection is closed")
	_, _, got := loser.Stats()
	assert.Equal(t, []string{"QUIT\r\n"}, got, "a greeted loser gets a QUIT")
	assert.Equal(t, 1, n.stillOpen())
}

// slowClose is a connection without deadlines whose first Close takes a
// while to tear down (a tunnel that waits for its peer), as the second and
// later Close calls do not. closing counts the Close calls still running.
type slowClose struct {
	noDeadlines
	closed  atomic.Bool
	closing *atomic.Int32
}

func (c *slowClose) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.Conn.Close()
	}
	c.closing.Add(1)
	defer c.closing.Add(-1)
	err := c.Conn.Close()              // readers return at once
	time.Sleep(200 * time.Millisecond) // the tunnel's own teardown
	return err
}

// TestDialReturnsAfterCancelClose checks Dial's promise that it returns
// only when every connection but the Conn is closed and every goroutine it
// started has ended: a cancelled connection without deadlines is closed
// from the context's AfterFunc, and Dial must wait for that Close too.
func TestDialReturnsAfterCancelClose(t *testing.T) {
	d, n := dialTest(t)
	var closing atomic.Int32
	d.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := n.dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return &slowClose{noDeadlines: noDeadlines{c}, closing: &closing}, nil
	}
	d.GreetingTimeout = time.Minute
	n.set("192.0.2.1:25", smtptest.Serve(t, smtptest.Silent()).Addr)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := d.Dial(ctx, "one.test")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, closing.Load(), "Dial returned while a connection's Close was still running")
}

// TestDialStaggerGreetingBegun: a server that has sent the first line of a
// multi-line 220 greeting is there, as Postfix's postscreen is while it
// holds back the rest ("220-", then up to 6 s): the next target waits for
// it to fail instead of racing it after Stagger. A server that says
// nothing, or begins with anything but 220, is still raced.
func TestDialStaggerGreetingBegun(t *testing.T) {
	tests := []struct {
		reason string
		first  smtptest.Behaviour
		winner string
		dialed int
	}{
		{"220- then the rest after 300 ms: MX 10 wins, MX 20 never dialled",
			smtptest.Write("220-pregreet\r\n"), "mx1.two.test", 1},
		{"silent for 300 ms: MX 20 starts after Stagger and wins",
			smtptest.Silent(), "mx2.two.test", 2},
		{"421- first: no greeting begun, MX 20 starts after Stagger and wins",
			smtptest.Write("421-busy\r\n"), "mx2.two.test", 2},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := dialTest(t)
			d.Stagger = 20 * time.Millisecond
			rest := "220 ready\r\n"
			if strings.HasPrefix(tt.reason, "421") {
				rest = "421 busy\r\n"
			}
			slow := func(c *net.TCPConn) bool {
				if !tt.first(c) {
					return false
				}
				return smtptest.After(300*time.Millisecond, smtptest.Write(rest))(c)
			}
			n.set("192.0.2.11:25", smtptest.Serve(t, slow).Addr)
			n.set("192.0.2.12:25", smtptest.Serve(t, smtptest.Greet("220 fast")).Addr)
			c, err := d.Dial(t.Context(), "two.test")
			require.NoError(t, err)
			defer quit(t, c)
			assert.Equal(t, tt.winner, c.Target.Host)
			assert.Len(t, n.dialed(), tt.dialed)
		})
	}
}
