package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mxroute-go/mxroute"
)

// dropped is a host the route left out, and why.
type dropped struct {
	name   string
	pref   uint16
	reason string // short: "loop-guard", "max-hosts", "dedupe", "max-addrs"
	detail string // for people
}

// droppedHosts reads the hosts a route left out from its events and the
// route.
func droppedHosts(res routed) []dropped {
	var out, cut []dropped // cut: by Router.MaxAddrs, at the end (route order)
	for _, ev := range res.events {
		var d dropped
		switch ev.Step {
		case mxroute.StepLoopGuard:
			d = dropped{reason: "loop-guard", detail: fmt.Sprintf("loop guard: at or above this host (%d)", selfPref(res.events))}
			if isSelf(res.events, ev.Host) {
				d.detail = "loop guard: this host"
			}
		case mxroute.StepMaxHosts:
			d = dropped{reason: "max-hosts", detail: "beyond --max-hosts"}
		case mxroute.StepMaxAddrsDropped:
			cut = append(cut, dropped{name: ev.Host, pref: ev.Preference, reason: "max-addrs", detail: "beyond --max-addrs"})
			continue
		case mxroute.StepDedupe:
			if ev.Count > 0 {
				continue
			}
			d = dropped{reason: "dedupe", detail: "every address already listed under an earlier host"}
		default:
			continue
		}
		d.name, d.pref = ev.Host, ev.Preference
		out = append(out, d)
	}
	// Router.MaxAddrs keeps the hosts up to the one that fills the budget
	// and drops every host after it, unusable ones too; the trace reports
	// each, in route order.
	return append(out, cut...)
}

// selfPref is this host's preference: the loop guard drops from there on.
func selfPref(events []mxroute.Event) uint16 {
	for _, ev := range events {
		if ev.Step == mxroute.StepSelf {
			return ev.Preference
		}
	}
	return 0
}

// isSelf reports whether the loop guard found host to be this host.
func isSelf(events []mxroute.Event, host string) bool {
	return slices.ContainsFunc(events, func(ev mxroute.Event) bool { return ev.Step == mxroute.StepSelf && ev.Host == host })
}

// printRoute writes one domain's route as an aligned table, with the hosts
// dropped or unusable and the verdict when routing failed. A failure
// without a Route (a loop bounce) still shows the hosts its decisions name:
// which host was this host and which were dropped. With s.dnssec, a line
// says whether the MX RRset was authenticated and an AD column whether
// each host's addresses were ("-" for a row without addresses). With s.tls,
// the domain's TLS decisions (its MTA-STS policy, DANE unavailable) come
// as lines and a TLS column gives each host's mode. Names and messages are
// escaped for the terminal (esc).
func printRoute(w io.Writer, query string, res routed, s show) {
	_, isAddr := domainOf(query)
	rt := res.rt
	dropped := droppedHosts(res)
	unusable := failedHosts(res)
	if rt != nil || len(dropped)+len(unusable) > 0 {
		head := label(query)
		literal := false // no DNS, so no DNSSEC status to show
		if rt != nil {
			head = esc(rt.Domain)
			if isAddr {
				head += " (for " + esc(query) + ")"
			}
			if rt.Canonical != rt.Domain {
				head += " (canonical name " + esc(rt.Canonical) + ")"
			}
			if rt.Implicit {
				head += ": no MX records, implicit MX"
			}
			literal = isLiteral(rt.Domain)
		}
		fmt.Fprintln(w, head)
		if s.dnssec && rt != nil && !literal {
			what := "MX RRset"
			if rt.Implicit {
				what = "MX NODATA" // what was authenticated is that there is no MX
			}
			fmt.Fprintf(w, "%s: %s\n", what, authenticMessage(rt.Authentic))
		}
		if s.tls {
			for _, ev := range tlsNotes(res) {
				printWrapped(w, "", "  ", esc(ev.Message))
			}
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "PREF\tHOST\t%sADDRESS\tFAMILY\n", columns(s, "AD", "TLS"))
		if rt != nil {
			for _, h := range rt.Hosts {
				if h.Err != nil {
					fmt.Fprintf(tw, "%d\t%s\t%s-\tunusable: %s\n", h.Preference, esc(h.Name), columns(s, "-", "-"), esc(hostReason(h.Err)))
					continue
				}
				for _, a := range h.Addrs {
					status := yesNo(h.Authentic)
					if literal {
						status = "-"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s%s\t%s\n", h.Preference, esc(h.Name), columns(s, status, tlsModeText(h.TLS)), a, family(a))
				}
			}
		}
		none := columns(s, "-", "-")
		for _, u := range unusable {
			fmt.Fprintf(tw, "%d\t%s\t%s-\tunusable: %s\n", u.pref, esc(u.name), none, esc(u.detail))
		}
		for _, ev := range res.events {
			if ev.Step == mxroute.StepMaxAddrs {
				fmt.Fprintf(tw, "%d\t%s\t%s-\tcut: more addresses beyond --max-addrs\n", ev.Preference, esc(ev.Host), none)
			}
		}
		for _, d := range dropped {
			fmt.Fprintf(tw, "%d\t%s\t%s-\tdropped: %s\n", d.pref, esc(d.name), none, esc(d.detail))
		}
		tw.Flush()
	} else if s.tls {
		// No table to head: a note names the domain itself (DANE
		// unavailable is decided before the MX question).
		for _, ev := range tlsNotes(res) {
			printWrapped(w, label(query)+": ", "  ", esc(ev.Message))
		}
	}
	if res.err != nil {
		verdict, status := verdictOf(res.err)
		fmt.Fprintf(w, "%s: %s %s: %s\n", label(query), verdict, status, esc(res.err.Error()))
	}
}

// columns gives the cells of the columns a run shows between HOST and
// ADDRESS, each followed by a tab: AD with --dnssec, TLS with --mta-sts or
// --dane.
func columns(s show, ad, tls string) string {
	out := ""
	if s.dnssec {
		out += ad + "\t"
	}
	if s.tls {
		out += tls + "\t"
	}
	return out
}

// failedHosts are the unusable hosts of a failure that returned no Route,
// read from its decisions (a Route lists its own in Hosts).
func failedHosts(res routed) []dropped {
	if res.rt != nil {
		return nil
	}
	var out []dropped
	implicit := ""
	for _, ev := range res.events {
		if ev.Step == mxroute.StepImplicitMX {
			implicit = ev.Host // the domain itself: its error says it all
		}
		if ev.Step == mxroute.StepUnusable && ev.Err != nil && ev.Host != implicit {
			out = append(out, dropped{name: ev.Host, pref: ev.Preference, reason: "unusable", detail: hostReason(ev.Err)})
		}
	}
	return out
}

// isLiteral reports whether a domain or host is an address literal, such
// as "[192.0.2.1]": routed with no DNS at all.
func isLiteral(name string) bool { return strings.HasPrefix(name, "[") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// authenticMessage says what the AD bit said.
func authenticMessage(authentic bool) string {
	if authentic {
		return "authenticated (AD)"
	}
	return "not authenticated"
}

// eventMessage is an event's message for people; with dnssec, the steps
// that carry a DNSSEC status say it.
func eventMessage(ev mxroute.Event, dnssec bool) string {
	switch {
	case !dnssec || isLiteral(ev.Host):
		return ev.Message
	case ev.Step == mxroute.StepMX, ev.Step == mxroute.StepImplicitMX, ev.Step == mxroute.StepAddrs:
		return ev.Message + "; " + authenticMessage(ev.Authentic)
	}
	return ev.Message
}

// printExplain writes a route's decisions, with --mta-sts or --dane what
// its TLS policies rest on, then its table.
func printExplain(w io.Writer, query string, res routed, s show) {
	printDecisions(w, query, res, s.dnssec)
	if s.tls {
		printTLS(w, query, res)
	}
	printRoute(w, query, res, s)
}

// printDecisions writes a route's decisions, numbered, each with its rule.
func printDecisions(w io.Writer, query string, res routed, dnssec bool) {
	fmt.Fprintf(w, "%s: %d decision(s)\n", label(query), len(res.events))
	for i, ev := range res.events {
		printWrapped(w, fmt.Sprintf("%3d. ", i+1), "     ", esc(eventMessage(ev, dnssec)))
		if ev.Rule != "" {
			fmt.Fprintf(w, "     [%s]\n", esc(ev.Rule))
		}
	}
	fmt.Fprintln(w)
}

// printWrapped writes s wrapped to 80 columns, its first line after first,
// the others after indent (as wide as first, or wider).
func printWrapped(w io.Writer, first, indent, s string) {
	for j, line := range wrap(s, 80-len(indent)) {
		if j == 0 {
			fmt.Fprintf(w, "%s%s\n", first, line)
		} else {
			fmt.Fprintf(w, "%s%s\n", indent, line)
		}
	}
}

func family(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "IPv6"
	}
	return "IPv4"
}

// hostReason is a host error's detail with its verdict, short enough for a
// table row.
func hostReason(err error) string {
	var e *mxroute.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	verdict := "permanent"
	if e.Temporary {
		verdict = "temporary"
	}
	// The table is for people at 80 columns: the RFC cited in a detail is
	// in explain's output.
	detail, _, _ := strings.Cut(e.Detail, " (RFC ")
	return fmt.Sprintf("%s (%s %s)", detail, verdict, e.Status)
}
