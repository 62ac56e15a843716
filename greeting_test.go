package mxroute

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadGreeting checks the reply grammar of RFC 5321, Section 4.2, and
// that nothing after the reply is consumed.
func TestReadGreeting(t *testing.T) {
	tests := []struct {
		reason    string
		in        string
		code      int
		lines     []string
		malformed bool
		eof       bool // the input ends early: a read error (tested alone, with nothing after it)
	}{
		{"one line", "220 mx ESMTP\r\n", 220, []string{"220 mx ESMTP"}, false, false},
		{"multi-line, read whole (Section 4.2.1)", "220-a\r\n220-b\r\n220 c\r\n", 220, []string{"220-a", "220-b", "220 c"}, false, false},
		{"a code alone (Reply-code [ SP textstring ] CRLF)", "220\r\n", 220, []string{"220"}, false, false},
		{"a continuation with no text", "220-\r\n220 ok\r\n", 220, []string{"220-", "220 ok"}, false, false},
		{"bare LF", "554 no\n", 554, []string{"554 no"}, false, false},
		{"4xx", "421 busy\r\n", 421, []string{"421 busy"}, false, false},
		{"the codes may differ from 220: the caller judges", "250 hi\r\n", 250, []string{"250 hi"}, false, false},
		{"first digit 2-5 (Reply-code = %x32-35)", "120 wait\r\n", 0, nil, true, false},
		{"second digit 0-5", "260 no\r\n", 0, nil, true, false},
		{"not digits", "SSH-2.0-OpenSSH\r\n", 0, nil, true, false},
		{"no separator after the code", "220mx\r\n", 0, nil, true, false},
		{"a tab is no separator", "220\tmx\r\n", 0, nil, true, false},
		{"an empty line", "\r\n", 0, nil, true, false},
		{"a continuation with another code", "220-a\r\n221 b\r\n", 0, []string{"220-a"}, true, false},
		{"a line too long", "220 " + strings.Repeat("x", maxReplyLine) + "\r\n", 0, nil, true, false},
		{"too many lines", strings.Repeat("220-"+strings.Repeat("x", 1000)+"\r\n", 100), 220, nil, true, false},
		{"EOF before the end of a line", "220 partial", 0, nil, false, true},
		{"EOF after a continuation", "220-first\r\n", 220, []string{"220-first"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			rest := "EHLO-ANSWER\r\n" // what a server sent beyond its greeting
			if tt.eof {
				rest = ""
			}
			br := bufio.NewReaderSize(strings.NewReader(tt.in+rest), maxReplyLine)
			r, err := readGreeting(br, nil)
			switch {
			case tt.malformed:
				require.ErrorIs(t, err, errMalformed)
			case tt.eof:
				require.ErrorIs(t, err, io.EOF)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.code, r.code)
				assert.Equal(t, tt.in, string(r.raw), "the raw bytes are the reply's")
				left, _ := io.ReadAll(br)
				assert.Equal(t, rest, string(left), "nothing beyond the reply is consumed")
			}
			if tt.lines != nil {
				assert.Equal(t, tt.lines, r.lines)
			}
		})
	}
}

// FuzzReadGreeting checks, for any bytes a server sends, that reading a
// greeting never panics, that every line it returns is a reply line with
// one code, and that the raw bytes it keeps and the bytes left behind are,
// together, exactly what was sent: the Conn's replay loses nothing.
func FuzzReadGreeting(f *testing.F) {
	for _, s := range []string{"220 mx\r\n", "220-a\r\n220 b\r\n250 x\r\n", "554\n", "220-a\r\n221 b\r\n", "\r\n", "2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), maxReplyLine)
		r, err := readGreeting(br, nil)
		left, _ := io.ReadAll(br)
		if err != nil && !errors.Is(err, errMalformed) && !errors.Is(err, io.EOF) {
			t.Fatalf("unexpected error %v", err)
		}
		if len(r.raw) > maxGreeting {
			t.Fatalf("kept %d bytes", len(r.raw))
		}
		if err != nil {
			return
		}
		if got := append(append([]byte(nil), r.raw...), left...); !bytes.Equal(got, in) {
			t.Fatalf("raw+left = %q, sent %q", got, in)
		}
		for i, l := range r.lines {
			code, more, ok := parseReplyLine(l)
			if !ok || code != r.code || more != (i < len(r.lines)-1) {
				t.Fatalf("line %d %q: code %d more %v ok %v, reply code %d", i, l, code, more, ok, r.code)
			}
		}
		if len(r.lines) == 0 || r.code < 200 || r.code > 559 {
			t.Fatalf("reply %+v", r)
		}
	})
}
