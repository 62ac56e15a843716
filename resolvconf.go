package mxroute

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The limits glibc puts on what resolv.conf asks for (resolv.h: MAXNS,
// RES_MAXRETRANS, RES_MAXRETRY): nameservers past the third are ignored,
// "options timeout:" is at most 30 seconds and "options attempts:" at
// most 5. A DNSResolver configured from resolv.conf behaves as every other
// program on the host does.
const (
	resolvMaxServers  = 3
	resolvMaxTimeout  = 30 * time.Second
	resolvMaxAttempts = 5
)

// resolvConf is what /etc/resolv.conf says, as far as DNSResolver uses it.
type resolvConf struct {
	servers  []string
	addrs    []serverAddr // servers, parsed
	timeout  time.Duration
	attempts int
	rotate   bool // options rotate
	trustAD  bool // options trust-ad
	read     time.Time
}

var (
	resolvConfPath = "/etc/resolv.conf"
	resolvConfMu   sync.Mutex
	resolvConfLast *resolvConf
)

// systemConfig reads resolv.conf, at most once every five seconds (as Go's
// own resolver does), so that a changed file is picked up.
func systemConfig() *resolvConf {
	resolvConfMu.Lock()
	defer resolvConfMu.Unlock()
	if c := resolvConfLast; c != nil && time.Since(c.read) < 5*time.Second {
		return c
	}
	c := &resolvConf{timeout: defaultTimeout, attempts: defaultAttempts}
	if f, err := os.Open(resolvConfPath); err == nil {
		c = parseResolvConf(f)
		f.Close()
	}
	if len(c.servers) == 0 {
		// What Go's resolver and glibc use when resolv.conf names none.
		c.servers = []string{"127.0.0.1:53", "[::1]:53"}
	}
	c.servers, c.addrs = parseServers(c.servers)
	c.read = time.Now()
	resolvConfLast = c
	return c
}

// parseResolvConf reads a resolv.conf as glibc's res_init does
// (resolv.conf(5)): "nameserver" lines whose argument is an IPv4 or IPv6
// address (with an optional zone), the first three of them, other ones
// ignored (glibc does not look host names up here); "options" lines, every
// one of them, a later value winning: timeout:n (seconds, at least 1, at
// most 30), attempts:n (at least 1, at most 5), rotate and trust-ad.
func parseResolvConf(r io.Reader) *resolvConf {
	c := &resolvConf{timeout: defaultTimeout, attempts: defaultAttempts}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 || len(c.servers) == resolvMaxServers {
				continue
			}
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				c.servers = append(c.servers, net.JoinHostPort(a.String(), "53"))
			}
		case "options":
			for _, opt := range fields[1:] {
				name, val, _ := strings.Cut(opt, ":")
				switch name {
				case "timeout":
					c.timeout = time.Duration(clampAtoi(val, 1, int(resolvMaxTimeout/time.Second))) * time.Second
				case "attempts":
					c.attempts = clampAtoi(val, 1, resolvMaxAttempts)
				case "rotate":
					c.rotate = true
				case "trust-ad":
					c.trustAD = true
				}
			}
		}
	}
	return c
}

// clampAtoi reads the leading decimal digits of s as atoi(3) does (none: 0)
// and keeps the number within [lo, hi].
func clampAtoi(s string, lo, hi int) int {
	end := 0
	for end < len(s) && end < 9 && '0' <= s[end] && s[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return min(max(n, lo), hi)
}
