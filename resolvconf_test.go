package mxroute

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	require.NoError(t, os.WriteFile(conf, []byte("nameserver 192.0.2.53\nnameserver 2001:db8::53\noptions timeout:1 attempts:3\n"), 0o644))
	oldPath, oldLast := resolvConfPath, resolvConfLast
	t.Cleanup(func() { resolvConfPath, resolvConfLast = oldPath, oldLast })

	resolvConfPath, resolvConfLast = conf, nil
	c := (&DNSResolver{}).config()
	assert.Equal(t, []string{"192.0.2.53:53", "[2001:db8::53]:53"}, c.servers)
	assert.Equal(t, time.Second, c.timeout)
	assert.Equal(t, 3, c.attempts)
	assert.False(t, c.rotate)
	assert.False(t, c.trustAD)

	c = (&DNSResolver{Servers: []string{"198.51.100.1"}, Timeout: 2 * time.Second, Attempts: 1}).config()
	assert.Equal(t, []string{"198.51.100.1:53"}, c.servers, "the struct's settings win")
	assert.Equal(t, 2*time.Second, c.timeout)
	assert.Equal(t, 1, c.attempts)

	resolvConfPath, resolvConfLast = filepath.Join(dir, "missing"), nil
	c = (&DNSResolver{}).config()
	assert.Equal(t, []string{"127.0.0.1:53", "[::1]:53"}, c.servers, "no resolv.conf: the local resolver, as Go and glibc do")
	assert.Equal(t, 5*time.Second, c.timeout)
	assert.Equal(t, 2, c.attempts)

	// rotate and trust-ad, which miekg/dns ignores, on any options line;
	// they apply to resolv.conf's own nameservers only.
	require.NoError(t, os.WriteFile(conf, []byte("nameserver 192.0.2.53\noptions timeout:1\noptions rotate trust-ad attempts:4 edns0\n"), 0o644))
	resolvConfPath, resolvConfLast = conf, nil
	c = (&DNSResolver{}).config()
	assert.True(t, c.rotate, "options rotate")
	assert.True(t, c.trustAD, "options trust-ad")
	assert.Equal(t, 4, c.attempts)
	c = (&DNSResolver{Servers: []string{"198.51.100.1"}}).config()
	assert.False(t, c.rotate, "resolv.conf's rotate is about its own nameservers")
	assert.False(t, c.trustAD, "resolv.conf's trust-ad is about its own nameservers")
	assert.Equal(t, 4, c.attempts, "zero fields still come from resolv.conf")
}

// TestResolvConfGlibcLimits: resolv.conf is read as glibc reads it (issue 9,
// item 12): at most three nameservers (MAXNS), only address lines counted,
// timeout at most 30 s (RES_MAXRETRANS), attempts at most 5 (RES_MAXRETRY).
func TestResolvConfGlibcLimits(t *testing.T) {
	tests := []struct {
		name, conf   string
		wantServers  []string
		wantTimeout  time.Duration
		wantAttempts int
		reason       string
	}{
		{"three nameservers", "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n",
			[]string{"192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"}, 5 * time.Second, 2, "MAXNS is 3: the fourth is ignored"},
		{"non-numeric nameserver", "nameserver dns.example\nnameserver 192.0.2.1\nnameserver 10.0.0.300\nnameserver 2001:db8::53\nnameserver\n",
			[]string{"192.0.2.1:53", "[2001:db8::53]:53"}, 5 * time.Second, 2, "a host name or a bad address is skipped, and takes no place among the three"},
		{"skipped lines take no slot", "nameserver x\nnameserver y\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n",
			[]string{"192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"}, 5 * time.Second, 2, "only addresses count towards MAXNS"},
		{"timeout capped", "nameserver 192.0.2.1\noptions timeout:3600 attempts:100\n",
			[]string{"192.0.2.1:53"}, 30 * time.Second, 5, "RES_MAXRETRANS 30 and RES_MAXRETRY 5"},
		{"timeout zero", "nameserver 192.0.2.1\noptions timeout:0 attempts:0\n",
			[]string{"192.0.2.1:53"}, time.Second, 1, "at least one second, at least one attempt"},
		{"atoi", "nameserver 192.0.2.1\noptions timeout:7x attempts:junk\n",
			[]string{"192.0.2.1:53"}, 7 * time.Second, 1, "leading digits count, as atoi reads them"},
		{"last options win", "nameserver 192.0.2.1\noptions timeout:2\noptions timeout:4 attempts:3\n",
			[]string{"192.0.2.1:53"}, 4 * time.Second, 3, "every options line is read, the later value wins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parseResolvConf(strings.NewReader(tt.conf))
			assert.Equal(t, tt.wantServers, c.servers, tt.reason)
			assert.Equal(t, tt.wantTimeout, c.timeout, tt.reason)
			assert.Equal(t, tt.wantAttempts, c.attempts, tt.reason)
		})
	}
	// Through the file, as a zero DNSResolver uses it.
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	require.NoError(t, os.WriteFile(conf, []byte(tests[0].conf+"options timeout:99 attempts:9\n"), 0o644))
	oldPath, oldLast := resolvConfPath, resolvConfLast
	t.Cleanup(func() { resolvConfPath, resolvConfLast = oldPath, oldLast })
	resolvConfPath, resolvConfLast = conf, nil
	c := (&DNSResolver{}).config()
	assert.Len(t, c.servers, 3)
	assert.Equal(t, 30*time.Second, c.timeout)
	assert.Equal(t, 5, c.attempts)
}
