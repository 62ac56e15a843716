package mtasts_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mxroute-go/mxroute/mtasts"

	_ "modernc.org/sqlite"
)

// The policy of RFC 8461, Section 3.2, and the MX host names it allows.
func ExampleParsePolicy() {
	p, err := mtasts.ParsePolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Mode, p.MaxAge)
	for _, host := range []string{"mail.example.com", "MX1.example.net.", "example.net", "a.b.example.net"} {
		fmt.Printf("%s: %v\n", host, p.Match(host))
	}
	// Output:
	// enforce 168h0m0s
	// mail.example.com: true
	// MX1.example.net.: true
	// example.net: false
	// a.b.example.net: false
}

// The TXT records at _mta-sts.<domain>: only those beginning with
// "v=STSv1;" count, and exactly one must be left.
func ExampleFindRecord() {
	r, err := mtasts.FindRecord([]string{"v=spf1 -all", "v=STSv1; id=20160831085700Z;"})
	fmt.Println(r.ID, err)
	_, err = mtasts.FindRecord([]string{"v=STSv1; id=a", "v=STSv1; id=b"})
	fmt.Println(err)
	// Output:
	// 20160831085700Z <nil>
	// mtasts: more than one MTA-STS TXT record: ["v=STSv1; id=a" "v=STSv1; id=b"]
}

// A Client with a resolver that finds no _mta-sts record: no policy, and
// no HTTPS request is made.
func ExampleClient_Lookup() {
	c := &mtasts.Client{
		TXT: func(ctx context.Context, name string) ([]string, error) { return nil, nil }, // NXDOMAIN
	}
	p, status, err := c.Lookup(context.Background(), "example.com")
	fmt.Println(p == nil, status, err)
	// Output:
	// true none <nil>
}

// Two MTAs share their policy cache in one SQL table (here SQLite; with
// PostgreSQL, open the *sql.DB with its driver, e.g. pgx's "pgx"): what one
// fetched, the other finds, and a slower MTA's older fetch does not roll
// it back.
func ExampleSQLStore() {
	dir, err := os.MkdirTemp("", "mtasts-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "sts.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	mtaA := &mtasts.SQLStore{DB: db}
	if err := mtaA.Init(ctx); err != nil {
		panic(err)
	}
	mtaB := &mtasts.SQLStore{DB: db}
	// Each MTA gives its store to its Client: &mtasts.Client{Store: mtaA}.
	// Here the Puts stand for the fetches a Client makes.
	policy := func(mx string) *mtasts.Policy {
		p, err := mtasts.ParsePolicy([]byte("version: STSv1\nmode: enforce\nmx: " + mx + "\nmax_age: 86400\n"))
		if err != nil {
			panic(err)
		}
		return p
	}
	now := time.Now()
	mtaA.Put(ctx, "example.com", mtasts.Entry{Policy: policy("mx2.example.com"), ID: "2", Fetched: now})
	mtaB.Put(ctx, "example.com", mtasts.Entry{Policy: policy("mx1.example.com"), ID: "1", Fetched: now.Add(-time.Minute)})
	e, ok, err := mtaB.Get(ctx, "example.com")
	fmt.Println(ok, err, e.ID, e.Policy.MX)
	// Output:
	// true <nil> 2 [mx2.example.com]
}
