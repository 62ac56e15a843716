package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a tap kept is read back as the Dialer read it: whole replies (RFC
// 5321, Section 4.2), within the Dialer's limits, up to the first thing
// that is no reply (the TLS records after a 220 to STARTTLS).
func TestParseReplies(t *testing.T) {
	t.Parallel()
	long := "220 " + strings.Repeat("x", maxReplyLine)
	tests := []struct {
		in     string
		codes  []int
		lines  []int // lines per reply
		reason string
	}{
		{"220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n220 go ahead\r\n\x16\x03\x01", []int{220, 250, 220}, []int{1, 2, 1}, "greeting, EHLO, STARTTLS, then TLS"},
		{"220 mx\n250 mx\n", []int{220, 250}, []int{1, 1}, "a bare LF ends a line, as for the Dialer"},
		{"220-mx\r\n220 ready\r\n250 ok\r\n250 more\r\n", []int{220, 250, 250}, []int{2, 1, 1}, "at most n replies"},
		{"220-mx\r\n221 bye\r\n", nil, nil, "a continuation with another code ends the reading"},
		{"220-mx\r\n220 not ended", nil, nil, "an incomplete reply is no reply"},
		{"220 mx\r\nHTTP/1.1 400\r\n", []int{220}, []int{1}, "no reply line: stop"},
		{"220 mx\r\n2500 x\r\n", []int{220}, []int{1}, "a code of four digits is no code"},
		{long + "\r\n", nil, nil, "a line longer than the Dialer takes"},
		{strings.Repeat("220-"+strings.Repeat("y", 1000)+"\r\n", 70) + "220 end\r\n", nil, nil, "a reply over 64 KiB"},
		{"220\r\n", []int{220}, []int{1}, "a code alone is a line"},
	}
	for _, tt := range tests {
		got := parseReplies([]byte(tt.in), 3)
		var codes, lines []int
		for _, r := range got {
			codes, lines = append(codes, r.code), append(lines, len(r.lines))
		}
		assert.Equal(t, tt.codes, codes, tt.reason)
		assert.Equal(t, tt.lines, lines, tt.reason)
	}
	r := parseReplies([]byte("220  mx.example.com ESMTP\r\n250-mx\r\n250-SIZE 1000\r\n250 starttls\r\n"), 2)
	require.Len(t, r, 2)
	assert.Equal(t, "mx.example.com", r[0].name(), "the greeting's name, after the code")
	assert.Empty(t, reply{lines: []string{"220"}}.name(), "a greeting without a name")
	assert.True(t, r[1].has("STARTTLS"), "keywords are case-insensitive")
	assert.False(t, r[1].has("mx"), "the first line is no keyword")
	v, ok := extParam(r[1], "size")
	assert.True(t, ok)
	assert.Equal(t, "1000", v)
}

// Errors are told without the loopback addresses of the lab, the RFC 8460
// result given apart, and the time of the check.
func TestCleanErr(t *testing.T) {
	t.Parallel()
	op := &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4444},
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25}, Err: errors.New("i/o timeout")}
	assert.Equal(t, "no TLS handshake within 1s: i/o timeout", cleanErr(fmt.Errorf("no TLS handshake within 1s: %w", op)))
	assert.Equal(t, "TLS handshake failed: boom", cleanErr(errors.New("mxroute: TLS failure validation-failure: TLS handshake failed: boom")))
	expired := x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time 2030-01-01T00:00:00Z is after 2021-01-01T00:00:00Z"}
	assert.Equal(t, "a certificate of the chain is out of its validity period", cleanErr(expired), "no time of the check in the output")
	assert.Empty(t, cleanErr(nil))
}

// A session reads at most maxSession bytes; a tap keeps at most maxTap,
// and nothing after stop.
func TestSessionBounds(t *testing.T) {
	t.Parallel()
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		chunk := make([]byte, 64<<10)
		for range 8 {
			if _, err := server.Write(chunk); err != nil {
				return
			}
		}
	}()
	tp := &tap{Conn: client}
	lc := &limitConn{Conn: tp, left: maxSession}
	n, err := io.Copy(io.Discard, lc)
	assert.ErrorIs(t, err, errTooMuch)
	assert.Equal(t, int64(maxSession), n)
	assert.Len(t, tp.bytes(), maxTap)

	c2, s2 := net.Pipe()
	defer c2.Close()
	go func() {
		_, _ = s2.Write([]byte("220 a\r\n"))
		time.Sleep(10 * time.Millisecond)
		_, _ = s2.Write([]byte("250 b\r\n"))
		s2.Close()
	}()
	tp = &tap{Conn: c2}
	buf := make([]byte, 16)
	_, _ = tp.Read(buf)
	tp.stop()
	_, _ = io.ReadAll(tp)
	assert.Equal(t, "220 a\r\n", string(tp.bytes()), "nothing after stop")
}

// isHelloName takes what may follow EHLO (RFC 5321, Section 4.1.1.1).
func TestIsHelloName(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"mx.example.com": true, "mx.example.com.": true, "[192.0.2.1]": true, "[IPv6:2001:db8::1]": true,
		"localhost": false, "example.123": false, "[2001:db8::1]": false, "[IPv6:192.0.2.1]": false,
		"[192.0.2]": false, "a_b.example": false, "mx example.com": false, "": false,
	} {
		assert.Equal(t, want, isHelloName(s), s)
	}
}
