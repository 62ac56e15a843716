package tlsrpt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mxroute-go/mxroute/internal/testpki"
)

// TestPost: the HTTPS POST of RFC 8460, Section 5.4 against a loopback
// server, and what each status means.
func TestPost(t *testing.T) {
	e := newTestEncoded(t, testSub)
	ca := testpki.NewRoot(t, "tlsrpt test CA")
	cert := ca.Issue(t, testpki.Template{CommonName: "tlsrpt.example", DNSNames: []string{"tlsrpt.example"}}).TLS()
	var mu sync.Mutex
	var got []string // method, path, content type of each request
	var body []byte
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		body = b
		mu.Unlock()
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
		if code == 0 {
			code = 200
		}
		if code == 302 {
			w.Header().Set("Location", "https://tlsrpt.example/s/200")
		}
		w.WriteHeader(code)
		io.WriteString(w, "status "+strconv.Itoa(code)+"\nsecond line\n")
	})
	client := testpki.ServeHTTPS(t, h, testpki.Pool(ca), cert)

	for _, tc := range []struct {
		code      int
		ok        bool
		temporary bool
		why       string
	}{
		{200, true, false, `"typically a 200 or 201"`},
		{201, true, false, `"typically a 200 or 201"`},
		{202, true, false, "any 2xx accepts the report"},
		{400, false, false, "the endpoint refuses this report: sending it again is no use"},
		{413, false, false, "too large: a permanent refusal of these bytes"},
		{408, false, true, "a request timeout may pass"},
		{429, false, true, "rate limited: try later"},
		{500, false, true, "a server error may pass: retry with backoff (Section 5.5)"},
		{503, false, true, "unavailable: try later"},
		{302, false, false, "a redirect is not followed: a POST turned GET would deliver nothing"},
	} {
		mu.Lock()
		got, body = nil, nil
		mu.Unlock()
		uri := "https://tlsrpt.example/s/" + strconv.Itoa(tc.code)
		err := e.Post(t.Context(), client, uri)
		mu.Lock()
		if len(got) != 1 || got[0] != "POST /s/"+strconv.Itoa(tc.code)+" application/tlsrpt+gzip" || !bytes.Equal(body, e.Gzip) {
			t.Errorf("%d: requests %q (%d bytes), want one POST of the gzipped report as application/tlsrpt+gzip", tc.code, got, len(body))
		}
		mu.Unlock()
		if tc.ok {
			if err != nil {
				t.Errorf("%d: %v (%s)", tc.code, err, tc.why)
			}
			continue
		}
		var de *DeliveryError
		if !errors.As(err, &de) || !errors.Is(err, ErrDelivery) || de.Status != tc.code || de.Temporary != tc.temporary || de.URI != uri {
			t.Errorf("%d: %v, want a DeliveryError, temporary %v (%s)", tc.code, err, tc.temporary, tc.why)
			continue
		}
		if tc.code != 302 && de.Detail != "status "+strconv.Itoa(tc.code) {
			t.Errorf("%d: detail %q: the first line of the body", tc.code, de.Detail)
		}
		if !strings.Contains(err.Error(), uri) {
			t.Errorf("%d: %q does not name the URI", tc.code, err)
		}
	}

	// No response at all: temporary, the cause kept.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String() + "/"
	l.Close()
	err = e.Post(t.Context(), &http.Client{}, closed)
	var de *DeliveryError
	var oe *net.OpError
	if !errors.As(err, &de) || !de.Temporary || de.Status != 0 || !errors.As(err, &oe) {
		t.Errorf("refused connection: %v, want a temporary DeliveryError wrapping the *net.OpError", err)
	}
	if err := e.Post(t.Context(), client, "mailto:a@example.com"); !errors.As(err, &de) || de.Temporary {
		t.Errorf("a mailto URI: %v, want a permanent DeliveryError", err)
	}
}
