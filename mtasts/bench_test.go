package mtasts

import (
	"context"
	"testing"
	"time"
)

// BenchmarkLookupCached: a Lookup whose TXT id matches a cached, fresh
// policy: the TXT question (answered at once here) and the Store, no fetch.
func BenchmarkLookupCached(b *testing.B) {
	p, err := ParsePolicy([]byte(policyText(ModeEnforce, 86400, "mx1.example.com", "*.example.net")))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	s := &MemoryStore{}
	s.Put(context.Background(), "example.com", Entry{Policy: p, ID: "one", Fetched: now})
	c := &Client{
		TXT: func(context.Context, string) ([]string, error) {
			return []string{"v=spf1 -all", "v=STSv1; id=one"}, nil
		},
		Store: s,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, st, err := c.Lookup(context.Background(), "example.com"); st != StatusCached || err != nil {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkParsePolicy(b *testing.B) {
	body := []byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePolicy(body); err != nil {
			b.Fatal(err)
		}
	}
}
