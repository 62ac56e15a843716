package mtasts

import (
	"context"
	"path/filepath"
	"strings"
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

// BenchmarkMemoryStorePutFull: a Put of a new domain into a full store of
// 10,000 entries, each evicting one (an O(n) scan for the lowest rank), and
// the Get of a route meanwhile.
func BenchmarkMemoryStorePutFull(b *testing.B) {
	ctx := context.Background()
	p, err := ParsePolicy([]byte(policyText(ModeEnforce, 86400, "mx1.example.com", "*.example.net")))
	if err != nil {
		b.Fatal(err)
	}
	s := &MemoryStore{}
	names := make([]string, 2*defaultMaxEntries)
	for i := range names {
		names[i] = "d" + itoa(i) + ".example"
	}
	for _, d := range names[:defaultMaxEntries] {
		s.Put(ctx, d, Entry{Policy: p, ID: "x", Fetched: time.Now()})
	}
	next := defaultMaxEntries // the names of the last 10,000 Puts are held, the others not
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Put(ctx, names[next%len(names)], Entry{Policy: p, ID: "x", Fetched: time.Now()})
			next++
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.Get(ctx, names[i%len(names)])
			i++
		}
	})
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

// BenchmarkFileStoreGetBehindPut: Gets of a FileStore holding 200 policies
// of 64 KiB while another goroutine Puts without pause, each Put
// rewriting the ~15 MB file (sub-benchmark "writing"; "idle": no Puts, the
// machine's own noise): how long a route's Get waits behind a write. It
// reports the mean, the worst Get and the Gets over 1 ms; run it with
// -benchtime=3s so that many writes overlap the Gets.
func BenchmarkFileStoreGetBehindPut(b *testing.B) {
	for _, writing := range []bool{false, true} {
		name := "idle"
		if writing {
			name = "writing"
		}
		b.Run(name, func(b *testing.B) { benchGetBehindPut(b, writing) })
	}
}

func benchGetBehindPut(b *testing.B, writing bool) {
	ctx := context.Background()
	var body strings.Builder
	body.WriteString(policyText(ModeEnforce, 86400, "mx.example.com"))
	for body.Len() < 64<<10-40 {
		body.WriteString("ext: " + strings.Repeat("v", 30) + "\r\n")
	}
	p, err := ParsePolicy([]byte(body.String()))
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 200)
	s := &FileStore{Path: filepath.Join(b.TempDir(), "cache.json")}
	for i := range names {
		names[i] = "d" + itoa(i) + ".example"
		if err := s.Put(ctx, names[i], Entry{Policy: p, ID: "x", Fetched: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	puts := 0
	go func() {
		defer close(stopped)
		for i := 0; writing; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Put(ctx, names[i%len(names)], Entry{Policy: p, ID: "x", Fetched: time.Now()})
			puts++
		}
	}()
	var (
		n, slow   int
		sum, most time.Duration
	)
	for b.Loop() {
		t0 := time.Now()
		if _, ok, err := s.Get(ctx, names[n%len(names)]); !ok || err != nil {
			b.Fatal(ok, err)
		}
		d := time.Since(t0)
		n++
		sum += d
		most = max(most, d)
		if d > time.Millisecond {
			slow++
		}
	}
	close(stop)
	<-stopped
	b.ReportMetric(float64(sum.Nanoseconds())/float64(n), "mean-ns/get")
	b.ReportMetric(float64(most.Microseconds()), "max-µs/get")
	b.ReportMetric(float64(slow), "gets>1ms")
	b.ReportMetric(float64(puts), "puts")
}
