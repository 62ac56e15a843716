package mtasts_test

import (
	"context"
	"fmt"

	"github.com/mxroute-go/mxroute/mtasts"
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
