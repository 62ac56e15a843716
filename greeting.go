package mxroute

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits of the greeting a Dialer reads. RFC 5321, Section 4.5.3.1.5: "The
// maximum total length of a reply line including the reply code and the
// <CRLF> is 512 octets"; deployed servers send longer banners, so a line may
// be four times that (go-smtp reads 2000). A hostile server could stream
// "220-" lines for the whole greeting timeout: the reply as a whole is
// bounded too.
const (
	maxReplyLine = 2048
	maxGreeting  = 64 << 10
)

// An smtpReply is one SMTP reply as the server sent it.
type smtpReply struct {
	code  int      // the reply code of every line
	lines []string // each line as received, code included, without its line ending
	raw   []byte   // the bytes read, line endings included
}

// String is the reply as Conn.Greeting and Attempt.Reply show it: its
// lines joined by "\n".
func (r smtpReply) String() string { return strings.Join(r.lines, "\n") }

// errMalformed is the cause of every malformed reply: a greeting, or with
// Dialer.StartTLS a reply to EHLO, HELO or STARTTLS.
var errMalformed = errors.New("malformed SMTP reply")

// readGreeting reads one whole reply from br, the multi-line form included,
// and nothing after it: bytes the server sent beyond the reply stay in br.
// br's size must be at least maxReplyLine.
//
// RFC 5321, Section 4.2: "Reply-line = *( Reply-code "-" [ textstring ]
// CRLF ) Reply-code [ SP textstring ] CRLF", with "Reply-code = %x32-35
// %x30-35 %x30-39"; Section 4.2.1: "In a multiline reply, the reply code on
// each of the lines MUST be the same." A bare LF ends a line too, as it does
// for net/textproto and go-smtp: a server is not skipped for its line ends.
//
// A read error (timeout, reset, EOF) is returned as it is, with the lines
// complete so far; a reply that breaks the grammar or the limits is an
// error wrapping errMalformed. begun, when not nil, is called once the first
// line of a multi-line 220 reply has arrived: the server is there and
// greeting, though the reply is not complete.
func readGreeting(br *bufio.Reader, begun func()) (smtpReply, error) {
	var r smtpReply
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return r, fmt.Errorf("%w: a line longer than %d bytes, beginning %q", errMalformed, maxReplyLine, line[:min(len(line), 40)])
		}
		if err != nil {
			return r, err
		}
		if len(r.raw)+len(line) > maxGreeting {
			return r, fmt.Errorf("%w: longer than %d bytes (%d lines)", errMalformed, maxGreeting, len(r.lines))
		}
		r.raw = append(r.raw, line...)
		text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		code, more, ok := parseReplyLine(text)
		if !ok {
			return r, fmt.Errorf("%w: not an SMTP reply line: %q", errMalformed, text)
		}
		if len(r.lines) > 0 && code != r.code {
			return r, fmt.Errorf("%w: reply code %d on a continuation of %d: %q", errMalformed, code, r.code, text)
		}
		r.code = code
		r.lines = append(r.lines, text)
		if !more {
			return r, nil
		}
		if len(r.lines) == 1 && code == 220 && begun != nil {
			begun()
		}
	}
}

// parseReplyLine returns the reply code of one line and whether more lines
// follow ("220-"); ok is false when the line is no reply line.
func parseReplyLine(line string) (code int, more, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, false
	}
	code, _ = strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, false, true
	}
	switch line[3] {
	case ' ':
		return code, false, true
	case '-':
		return code, true, true
	}
	return 0, false, false
}
