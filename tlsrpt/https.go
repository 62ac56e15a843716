package tlsrpt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrDelivery: a report was not accepted. A *DeliveryError wraps it and
// says whether to try again.
var ErrDelivery = errors.New("tlsrpt: report not delivered")

// DeliveryError is a failed HTTPS POST of a report: the URI, the HTTP
// status (0 when no response came), whether trying again later may work,
// and the cause. errors.Is reaches ErrDelivery and the cause.
type DeliveryError struct {
	URI       string
	Status    int    // the HTTP status; 0 for no response
	Temporary bool   // no response, 408, 429 or 5xx: retry with backoff, up to 24 hours (Section 5.5)
	Detail    string // the first line of the response body, or what went wrong
	Err       error  // the transport's error, or nil
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tlsrpt: report not delivered to %q", e.URI)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %q", e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Temporary {
		b.WriteString(" (temporary)")
	} else {
		b.WriteString(" (permanent)")
	}
	return b.String()
}

// Unwrap gives ErrDelivery and the cause.
func (e *DeliveryError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrDelivery, e.Err}
	}
	return []error{ErrDelivery}
}

// Post delivers the report by HTTPS POST to uri, one of the record's
// https: addresses (Section 5.4), as application/tlsrpt+gzip with client
// (nil: http.DefaultClient; "Report submitters MAY ignore certificate
// validation errors when submitting reports via https", Section 3: a client
// whose transport skips verification does so). Redirects are not followed:
// a POST turned into a GET by a 302 would deliver nothing.
//
// Any 2xx status is success ("typically a 200 or 201"). Other statuses
// "could indicate a delivery failure and may be retried as per local sender
// policy" (Section 5.4): no response, 408, 429 and 5xx are a temporary
// *DeliveryError, worth trying again with exponential backoff for up to 24
// hours (Section 5.5); any other status is permanent, the endpoint refusing
// this report. The caller may deliver to every rua address; the report is
// delivered once one of them accepts it (Section 3).
func (e *Encoded) Post(ctx context.Context, client *http.Client, uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return &DeliveryError{URI: uri, Detail: "not an https URI"}
	}
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(e.Gzip))
	if err != nil {
		return &DeliveryError{URI: uri, Err: err}
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := c.Do(req)
	if err != nil {
		return &DeliveryError{URI: uri, Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 512)).ReadString('\n')
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	st := resp.StatusCode
	detail := clean(line, 200)
	if st >= 300 && st < 400 {
		detail = "redirect to " + clean(resp.Header.Get("Location"), 200)
	}
	return &DeliveryError{URI: uri, Status: st, Temporary: st == 408 || st == 429 || st >= 500, Detail: detail}
}
