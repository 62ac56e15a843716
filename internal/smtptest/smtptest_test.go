package smtptest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBehaviours checks what a client sees from each server.
func TestBehaviours(t *testing.T) {
	t.Run("greet, then read what the client sends until it closes", func(t *testing.T) {
		s := Serve(t, Greet("220-a", "220 b"))
		c, err := net.Dial("tcp", s.Addr)
		require.NoError(t, err)
		br := bufio.NewReader(c)
		for _, want := range []string{"220-a\r\n", "220 b\r\n"} {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, want, line)
		}
		_, _ = io.WriteString(c, "QUIT\r\n")
		require.NoError(t, c.Close())
		require.True(t, s.WaitClosed(t.Context(), 1))
		accepted, closed, got := s.Stats()
		assert.Equal(t, 1, accepted)
		assert.Equal(t, 1, closed)
		assert.Equal(t, []string{"QUIT\r\n"}, got)
	})
	t.Run("reset: the client's connect or first read fails with ECONNRESET", func(t *testing.T) {
		s := Serve(t, Reset())
		c, err := net.Dial("tcp", s.Addr)
		if err == nil { // the reset came after the connect returned
			defer c.Close()
			_, err = c.Read(make([]byte, 1))
		}
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	})
	t.Run("after: nothing before the delay", func(t *testing.T) {
		s := Serve(t, After(200*time.Millisecond, Greet("220 late")))
		c, err := net.Dial("tcp", s.Addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		_, err = c.Read(make([]byte, 1))
		require.Error(t, err, "nothing yet")
		require.NoError(t, c.SetReadDeadline(time.Time{}))
		line, err := bufio.NewReader(c).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "220 late\r\n", line)
	})
	t.Run("closed port refuses", func(t *testing.T) {
		_, err := net.Dial("tcp", ClosedPort(t))
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	})
}

// TestBlackhole checks that a connect to a Blackhole is neither accepted
// nor refused: it lasts until the dialer's deadline.
func TestBlackhole(t *testing.T) {
	b := ServeBlackhole(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var d net.Dialer
	_, err := d.DialContext(ctx, "tcp", b.Addr)
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "timed out, not refused: %v", err)
}

// TestConverse checks the scripted server: the greeting, an answer per
// command, the upgrade after a 220 to STARTTLS, and the close on "".
func TestConverse(t *testing.T) {
	upgraded := make(chan string, 1)
	s := Serve(t, Converse("220 scripted", func(cmd string) string {
		switch cmd {
		case "EHLO a.test":
			return "250-scripted\r\n250 STARTTLS\r\n"
		case "STARTTLS":
			return "220 go ahead\r\n"
		}
		return ""
	}, func(c net.Conn, br *bufio.Reader) {
		line, _ := br.ReadString('\n')
		upgraded <- line
	}))
	c, err := net.Dial("tcp", s.Addr)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "EHLO a.test\r\nSTARTTLS\r\nnot TLS\r\n")
	var got []string
	for range 4 {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		got = append(got, line)
	}
	assert.Equal(t, []string{"220 scripted\r\n", "250-scripted\r\n", "250 STARTTLS\r\n", "220 go ahead\r\n"}, got)
	assert.Equal(t, "not TLS\r\n", <-upgraded, "the upgrade reads what followed the STARTTLS")

	c2, err := net.Dial("tcp", s.Addr)
	require.NoError(t, err)
	defer c2.Close()
	br2 := bufio.NewReader(c2)
	_, _ = io.WriteString(c2, "NOOP\r\n")
	line, err := br2.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "220 scripted\r\n", line)
	_, err = br2.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF, "an empty answer closes the connection")
}

// TestStartMailRcpt: a MailServer that knows its mailboxes answers 550
// 5.1.1 at RCPT for the others; one without known takes every recipient.
func TestStartMailRcpt(t *testing.T) {
	rcpt := func(addr, to string) error {
		c, err := smtp.Dial(addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Mail(""))
		return c.Rcpt(to)
	}
	s := StartMailRcpt(t, "mx.test", nil, func(to string) bool { return to == "postmaster@a.test" })
	assert.NoError(t, rcpt(s.Addr, "postmaster@a.test"))
	err := rcpt(s.Addr, "nobody@a.test")
	var te *textproto.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 550, te.Code)
	assert.Equal(t, "5.1.1 no such user", te.Msg)
	assert.NoError(t, rcpt(StartMail(t, "mx.test", nil).Addr, "nobody@a.test"), "no known: every recipient")
}
