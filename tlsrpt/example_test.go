package tlsrpt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"time"

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
