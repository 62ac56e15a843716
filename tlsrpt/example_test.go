package tlsrpt_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the driver of the database: the caller's choice (pgx for PostgreSQL)

	"github.com/mxroute-go/mxroute/tlsrpt"
)

// A day of sessions to example.com, counted, and the report they make.
func ExampleCollector() {
	ctx := context.Background()
	day := time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC) // a Session without Time is of time.Now()
	c := &tlsrpt.Collector{}
	policy := tlsrpt.STS("example.com", "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n")
	for range 9 {
		c.Add(ctx, tlsrpt.Session{Policy: policy, Time: day})
	}
	c.Add(ctx, tlsrpt.Session{
		Policy:      policy,
		Time:        day,
		Failure:     tlsrpt.CertificateExpired,
		SendingIP:   netip.MustParseAddr("192.0.2.1"),
		ReceivingIP: netip.MustParseAddr("198.51.100.25"),
		MXHost:      "mx1.example.com",
		HELO:        "mx1.example.com",
	})
	// The report's own delivery, failing the same way, is not counted.
	c.Add(ctx, tlsrpt.Session{Policy: policy, Time: day, Failure: tlsrpt.CertificateExpired, Report: true})

	sub := tlsrpt.Submitter{Domain: "mail.sender.example", Organization: "Sender Inc."}
	r, err := c.Report(ctx, sub, "example.com", tlsrpt.DayOf(day))
	if err != nil {
		fmt.Println(err)
		return
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(r)
	e, _ := sub.Encode(r)
	fmt.Println(e.FileName)
	// Output:
	// {
	//   "organization-name": "Sender Inc.",
	//   "date-range": {
	//     "start-datetime": "2016-04-01T00:00:00Z",
	//     "end-datetime": "2016-04-01T23:59:59Z"
	//   },
	//   "contact-info": "postmaster@mail.sender.example",
	//   "report-id": "20160401.example.com@mail.sender.example",
	//   "policies": [
	//     {
	//       "policy": {
	//         "policy-type": "sts",
	//         "policy-string": [
	//           "version: STSv1",
	//           "mode: enforce",
	//           "mx: *.example.com",
	//           "max_age: 86400"
	//         ],
	//         "policy-domain": "example.com",
	//         "mx-host": [
	//           "*.example.com"
	//         ]
	//       },
	//       "summary": {
	//         "total-successful-session-count": 9,
	//         "total-failure-session-count": 1
	//       },
	//       "failure-details": [
	//         {
	//           "result-type": "certificate-expired",
	//           "sending-mta-ip": "192.0.2.1",
	//           "receiving-mx-hostname": "mx1.example.com",
	//           "receiving-mx-helo": "mx1.example.com",
	//           "receiving-ip": "198.51.100.25",
	//           "failed-session-count": 1
	//         }
	//       ]
	//     }
	//   ]
	// }
	// mail.sender.example!example.com!1459468800!1459555199.json.gz
}

// Where a domain wants its reports.
func ExampleParseRecord() {
	r, err := tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1/tlsrpt")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Mailto(), r.HTTPS())
	_, err = tlsrpt.ParseRecord("v=TLSRPTv1; rua=mailto:a!b@example.com")
	fmt.Println(err)
	// Output:
	// [tlsrpt@example.com] [https://reports.example.com/v1/tlsrpt]
	// tlsrpt: malformed TLSRPT TXT record "v=TLSRPTv1; rua=mailto:a!b@example.com": rua URI "mailto:a!b@example.com": '!' must be percent-encoded
}

// A single MTA's counters in a file: counted, kept across a restart, and
// reported.
func ExampleFileStore() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tlsrpt")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tlsrpt.json") // e.g. /var/lib/mta/tlsrpt.json
	day := time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)
	policy := tlsrpt.STS("example.com", "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n")

	store := &tlsrpt.FileStore{Path: path}
	c := &tlsrpt.Collector{Store: store}
	for range 3 {
		c.Add(ctx, tlsrpt.Session{Policy: policy, Time: day})
	}
	if err := store.Close(); err != nil { // at shutdown: what is not written yet
		fmt.Println(err)
		return
	}

	// After a restart: the counts are there.
	store = &tlsrpt.FileStore{Path: path}
	defer store.Close()
	c = &tlsrpt.Collector{Store: store}
	c.Add(ctx, tlsrpt.Session{Policy: policy, Time: day, Failure: tlsrpt.STSPolicyInvalid})
	r, err := c.Report(ctx, tlsrpt.Submitter{Domain: "mail.sender.example"}, "example.com", tlsrpt.DayOf(day))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Policies[0].Summary.TotalSuccessful, r.Policies[0].Summary.TotalFailure)
	// Output:
	// 3 1
}

// A fleet's counters in a SQL database: a report printed with the driver
// of the database, which this package does not import (here SQLite; for
// PostgreSQL, github.com/jackc/pgx/v5/stdlib and sql.Open("pgx", dsn)).
// It is what the mxroute report command does for a FileStore.
func ExampleSQLStore() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tlsrpt")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "tlsrpt.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	store := &tlsrpt.SQLStore{DB: db}
	if err := store.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}
	day := time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)
	(&tlsrpt.Collector{Store: store}).Add(ctx, tlsrpt.Session{Policy: tlsrpt.NoPolicy("example.com"), Time: day})

	// The report, as any MTA of the fleet (or a tool of its own) prints it.
	c := &tlsrpt.Collector{Store: &tlsrpt.SQLStore{DB: db}}
	r, err := c.Report(ctx, tlsrpt.Submitter{Domain: "mail.sender.example"}, "example.com", tlsrpt.DayOf(day))
	if r == nil {
		fmt.Println("the store could not be read:", err)
		return
	}
	if err != nil {
		fmt.Println("some counters could not be read:", err) // r has the others
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(r.Policies)
	// Output:
	// [
	//   {
	//     "policy": {
	//       "policy-type": "no-policy-found",
	//       "policy-string": [],
	//       "policy-domain": "example.com",
	//       "mx-host": []
	//     },
	//     "summary": {
	//       "total-successful-session-count": 1,
	//       "total-failure-session-count": 0
	//     },
	//     "failure-details": []
	//   }
	// ]
}
