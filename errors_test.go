package mxroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestError(t *testing.T) {
	tests := []struct {
		name          string
		err           *Error
		wantMsg       string
		wantSentinel  error
		wantTemporary bool
	}{
		{"domain", &Error{Domain: "Example.COM", Status: "5.1.2", Err: ErrNoSuchDomain},
			`mxroute: "Example.COM": no such domain (5.1.2)`, ErrNoSuchDomain, false},
		{"host with detail", &Error{Domain: "example.com", Host: "mx.example.com", Status: "4.4.3", Temporary: true,
			Err: ErrTemporary, Detail: "A lookup for mx.example.com: SERVFAIL"},
			`mxroute: "example.com": host "mx.example.com": temporary DNS failure: A lookup for mx.example.com: SERVFAIL (4.4.3)`, ErrTemporary, true},
		{"quotes odd input", &Error{Domain: "a\"b\n", Status: "5.1.3", Err: ErrBadDomain},
			`mxroute: "a\"b\n": malformed domain (5.1.3)`, ErrBadDomain, false},
		{"no sentinel", &Error{Domain: "x"}, `mxroute: "x": routing failed`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.wantMsg, tt.err.Error())
			if tt.wantSentinel != nil {
				assert.Equal(t, []error{tt.wantSentinel}, tt.err.Unwrap())
			} else {
				assert.Empty(t, tt.err.Unwrap())
			}
			if tt.wantSentinel != nil {
				assert.ErrorIs(t, fmt.Errorf("wrapped: %w", tt.err), tt.wantSentinel)
			}
			assert.Equal(t, tt.wantTemporary, IsTemporary(tt.err))
			assert.Equal(t, tt.wantTemporary, IsTemporary(fmt.Errorf("wrapped: %w", tt.err)))
		})
	}
}

func TestErrorCause(t *testing.T) {
	err := newTemporary("example.com", "", "MX lookup: deadline", context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrTemporary)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the cause answers errors.Is")
	assert.NotErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, &Error{Err: ErrTemporary}, context.Canceled, "no cause, no match")
}

// TestErrorAsCause: errors.As reaches the cause behind the sentinel, so an
// MTA can read the *net.OpError of a failed query (issue 9, item 7), and
// errors.Is still reaches both.
func TestErrorAsCause(t *testing.T) {
	op := &net.OpError{Op: "read", Net: "udp", Err: errors.New("connection refused")}
	err := error(newTemporary("example.com", "", "MX lookup", fmt.Errorf("server 192.0.2.53:53: %w", op)))
	var got *net.OpError
	require.ErrorAs(t, fmt.Errorf("wrapped: %w", err), &got)
	assert.Same(t, op, got)
	assert.ErrorIs(t, err, ErrTemporary)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, []error{ErrTemporary, e.Cause}, e.Unwrap())
}

func TestIsTemporary(t *testing.T) {
	assert.False(t, IsTemporary(nil))
	assert.False(t, IsTemporary(errors.New("plain")), "not ours: no verdict")
	assert.False(t, IsTemporary(&Error{Err: ErrNullMX}))
	assert.True(t, IsTemporary(&Error{Err: ErrTemporary, Temporary: true}))
}

// TestSentinelsPrefixed: every sentinel names the package, so a log line
// says where it came from.
func TestSentinelsPrefixed(t *testing.T) {
	for _, s := range []error{ErrNullMX, ErrNoSuchDomain, ErrNoMailHost, ErrLoop, ErrNoAddress, ErrCNAME, ErrTemporary, ErrBadDomain} {
		assert.Regexp(t, `^mxroute: `, s.Error())
	}
}

func TestHostError(t *testing.T) {
	temp := &lookupError{detail: "A lookup for h: SERVFAIL"}
	loop := &lookupError{cname: true, detail: "CNAME loop"}
	tests := []struct {
		name          string
		host          mxHost
		family        Family
		wantErr       error
		wantTemporary bool
		wantDetail    string
		reason        string
	}{
		{"temporary wins", mxHost{v6: addrResult{looked: true, err: temp}, v4: addrResult{looked: true, ans: answer{kind: noDomain}}},
			AnyFamily, ErrTemporary, true, temp.detail, "the host may answer later: wait for it"},
		{"CNAME fault", mxHost{v6: addrResult{looked: true, err: loop}, v4: addrResult{looked: true, err: loop}},
			AnyFamily, ErrCNAME, true, "CNAME loop", "a loop may be mended"},
		{"NXDOMAIN", mxHost{v6: addrResult{looked: true, ans: answer{kind: noDomain}}, v4: addrResult{looked: true, ans: answer{kind: noDomain}}},
			AnyFamily, ErrNoAddress, false, "host does not exist (NXDOMAIN)", "permanent"},
		{"NODATA", mxHost{v6: addrResult{looked: true, ans: answer{kind: noData}}, v4: addrResult{looked: true, ans: answer{kind: noData}}},
			AnyFamily, ErrNoAddress, false, "no A or AAAA records", "permanent"},
		{"family excluded", mxHost{v6: addrResult{looked: true, addrs: mustAddrs("2001:db8::1")}, v4: addrResult{looked: true, ans: answer{kind: noData}}},
			IPv4Only, ErrNoAddress, false, "only IPv6 addresses, and the family policy is IPv4Only", "says why"},
		{"IPv6 only, no AAAA", mxHost{v6: addrResult{looked: true, ans: answer{kind: noData}}},
			IPv6Only, ErrNoAddress, false, "no AAAA records", "only AAAA was asked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.host.name = "h"
			e := (&Router{Family: tt.family}).hostError("d.test", &tt.host)
			assert.ErrorIs(t, e, tt.wantErr, tt.reason)
			assert.Equal(t, tt.wantTemporary, e.Temporary, tt.reason)
			assert.Equal(t, tt.wantDetail, e.Detail)
			assert.Equal(t, "h", e.Host)
			assert.Equal(t, "d.test", e.Domain)
		})
	}
}

// TestDetailNamesWithoutTrailingDot: the details of every error a route
// gives, of the route and of its hosts, name domains as Route.Domain and
// Host.Name do, without the trailing dot of the DNS question ("MX lookup
// for d.test: REFUSED", not "d.test.: REFUSED").
func TestDetailNamesWithoutTrailingDot(t *testing.T) {
	z := testZone(t, "dot.test.", `
$ORIGIN dot.test.
@          3600 IN SOA ns hostmaster 1 3600 600 86400 300
hosts      IN MX 10 failing
           IN MX 20 looping
           IN MX 30 badcname
looping    IN CNAME loop2
loop2      IN CNAME looping
badcname   IN CNAME bad\060name.dot.test.
long       IN MX 10 c0
c0 IN CNAME c1
c1 IN CNAME c2
c2 IN CNAME c3
c3 IN CNAME c4
c4 IN CNAME c5
c5 IN CNAME c6
c6 IN CNAME c7
c7 IN CNAME c8
c8 IN CNAME c9
c9 IN CNAME c10
c10 IN CNAME c11
c11 IN A 192.0.2.1
`)
	res := ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		switch name {
		case "refused.dot.test.", "failing.dot.test.":
			return reply(name, qtype, dns.RcodeRefused), nil
		}
		return z.Resolve(ctx, name, qtype)
	})
	r := &Router{Resolver: res}
	var details []string
	for _, domain := range []string{"nowhere.dot.test", "refused.dot.test", "hosts.dot.test", "long.dot.test"} {
		rt, err := r.Route(t.Context(), domain)
		var e *Error
		require.ErrorAs(t, err, &e, domain)
		details = append(details, e.Detail)
		if rt != nil {
			for _, h := range rt.Hosts {
				require.ErrorAs(t, h.Err, &e, domain)
				details = append(details, e.Detail)
			}
		}
	}
	require.Len(t, details, 8, "every route fails; hosts.dot.test has three unusable hosts, long.dot.test one")
	for _, d := range details {
		t.Log(d)
		assert.NotRegexp(t, `[a-z0-9]\.([:,;) ]|$)`, d, "a name with its trailing dot")
		assert.Contains(t, d, "dot.test", "the detail names what failed")
	}
}
