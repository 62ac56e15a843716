package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
)

// What route and explain show of TLS with --mta-sts or --dane: each host's
// mode, the domain's TLS decisions, and in explain what the modes rest on
// (the _mta-sts record, the policy, the TLSA records, each host's
// decisions). All of it is read from the Route and its trace: the Router
// decided, the command only shows.

// isDomainTLS reports whether ev is a TLS decision about the domain rather
// than one host: its MTA-STS policy, DANE unavailable through the
// Resolver, or DANE not applying to an MX RRset that is not authenticated.
func isDomainTLS(ev mxroute.Event) bool {
	switch ev.Step {
	case mxroute.StepMTASTS, mxroute.StepDANEUnavailable:
		return true
	case mxroute.StepTLSA:
		return ev.Host == ""
	}
	return false
}

// tlsNotes are the route's TLS decisions about the domain, in order.
func tlsNotes(res routed) []mxroute.Event {
	var out []mxroute.Event
	for _, ev := range res.events {
		if isDomainTLS(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// hostTLSDecisions are the route's TLS decisions about one host: its DANE
// decision (StepTLSA) and how the MTA-STS policy treats it
// (StepMTASTSHost), in order.
func hostTLSDecisions(res routed, host string) []mxroute.Event {
	var out []mxroute.Event
	for _, ev := range res.events {
		if (ev.Step == mxroute.StepTLSA || ev.Step == mxroute.StepMTASTSHost) && ev.Host == host {
			out = append(out, ev)
		}
	}
	return out
}

// tlsModeText is a host's TLS mode for the TLS column: the TLSMode's name,
// "dane (encrypt)" for a secure TLSA RRset whose records are all unusable
// (TLS required, nothing authenticated: dane.ModeEncrypt).
func tlsModeText(p *mxroute.TLSPolicy) string {
	if p != nil && p.Mode == mxroute.TLSDANE && p.DANE.Mode() == dane.ModeEncrypt {
		return p.Mode.String() + " (encrypt)"
	}
	if p == nil {
		return mxroute.TLSOpportunistic.String()
	}
	return p.Mode.String()
}

// printTLS writes, for explain, what the route's TLS modes rest on: the TXT
// records at _mta-sts.<domain> and the policy in force (--mta-sts), then
// each host's mode, its TLSA records when DANE applies, and the route's
// decisions about it.
func printTLS(w io.Writer, query string, res routed) {
	rt := res.rt
	if rt == nil || isLiteral(rt.Domain) {
		return
	}
	fmt.Fprintf(w, "%s: TLS\n", label(query))
	if res.sts.looked {
		name := "_mta-sts." + rt.Domain
		if len(res.sts.records) == 0 {
			fmt.Fprintf(w, "  %s: no TXT record\n", esc(name))
		}
		for _, txt := range res.sts.records {
			printWrapped(w, "  ", "    ", esc(name)+" TXT "+strconv.Quote(txt))
		}
		if p := res.sts.policy; p != nil {
			fmt.Fprintf(w, "  policy id %s, from %s:\n", esc(p.ID), mtasts.URL(rt.Domain))
			for _, line := range strings.Split(strings.TrimSuffix(p.String(), "\r\n"), "\r\n") {
				fmt.Fprintf(w, "    %s\n", esc(line))
			}
		} else if len(res.sts.records) > 0 {
			fmt.Fprintln(w, "  no policy in force (see the decisions)")
		}
	}
	for _, h := range rt.Hosts {
		mode := tlsModeText(h.TLS)
		if h.Err != nil {
			mode = "unusable"
		}
		fmt.Fprintf(w, "  %s (%d): %s\n", esc(h.Name), h.Preference, mode)
		if h.TLS != nil && h.TLS.Mode == mxroute.TLSDANE && h.TLS.DANE != nil {
			for _, r := range h.TLS.DANE.Records {
				printWrapped(w, "    ", "      ", "_25._tcp."+esc(h.TLS.DANE.ServerName())+" TLSA "+r.String())
			}
		}
		for _, ev := range hostTLSDecisions(res, h.Name) {
			printWrapped(w, "    ", "      ", esc(ev.Message))
		}
	}
	fmt.Fprintln(w)
}
