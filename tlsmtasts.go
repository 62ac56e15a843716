package mxroute

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
)

// The rules the MTA-STS decisions cite.
const (
	ruleSTS        = "RFC 8461, Section 5"
	ruleSTSLookup  = "RFC 8461, Section 3.3"
	ruleSTSMatch   = "RFC 8461, Section 4.1"
	ruleSTSvsDANE  = "RFC 8461, Section 2"
	statusSTSNoMX  = "4.7.0" // RFC 3463: other or undefined security status, for now
	stsFailureNote = "delivery goes on as without MTA-STS"
)

// routeTLS is the MTA-STS side of one route: the policy lookup started
// with the MX question, and what it gave.
type routeTLS struct {
	done   chan struct{} // closed when the lookup has returned
	cancel context.CancelFunc

	policy *mtasts.Policy // the policy in force, or nil
	status mtasts.Status
	err    error // for the trace and logs: never a reason to bounce

	joined bool
	cut    bool // ctx ended before a policy was known: the route is not complete
}

// startMTASTS starts the MTA-STS lookup of domain (the recipient domain,
// RFC 8461's Policy Domain) on a goroutine, so that its TXT question goes
// out in parallel with the MX question: with a cached policy it costs no
// round-trip of its own. A Client without TXT asks through the Router's
// Resolver (so a Cache, a ZoneResolver or a DNSResolver serve it as they
// serve the route). Nothing happens without Router.MTASTS.
func (ro *routing) startMTASTS(ctx context.Context, domain string) {
	c := ro.r.MTASTS
	if c == nil {
		return
	}
	var txt mtasts.TXTFunc
	if c.TXT == nil {
		txt = ro.r.resolverTXT(ro.r.resolver())
	}
	t := &routeTLS{done: make(chan struct{})}
	sctx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	ro.tls = t
	go func() {
		defer close(t.done)
		t.policy, t.status, t.err = c.LookupUsing(sctx, domain, txt)
	}()
}

// stopMTASTS cancels the MTA-STS lookup if it still runs and waits for its
// goroutine to end. It may be called any number of times.
func (ro *routing) stopMTASTS() {
	if t := ro.tls; t != nil && t.cancel != nil {
		t.cancel()
		<-t.done
	}
}

// joinMTASTS waits for the MTA-STS lookup (it ends with ctx) and, the first
// time, reports it. It returns nil without Router.MTASTS.
func (ro *routing) joinMTASTS(ctx context.Context) *routeTLS {
	t := ro.tls
	if t == nil || t.cancel == nil {
		return t
	}
	if t.joined {
		return t
	}
	<-t.done
	t.joined = true
	if t.policy == nil && ctx.Err() != nil {
		t.cut = true // what the domain publishes is not known
	}
	if ro.trace().on() {
		ro.trace().emit(ctx, t.event())
	}
	return t
}

// event is the StepMTASTS event of the policy decision.
func (t *routeTLS) event() Event {
	e := Event{Step: StepMTASTS, Rule: ruleSTS, Err: t.err}
	p := t.policy
	switch {
	case p != nil:
		e.Count = len(p.MX)
		e.TTL = uint32(min(p.MaxAge/time.Second, 1<<31-1))
		e.Message = fmt.Sprintf("MTA-STS policy id %s, mode %s, mx %s, max_age %d (%s)", p.ID, p.Mode, patterns(p), e.TTL, t.status)
		if t.status == mtasts.StatusKept {
			e.Rule = ruleSTSLookup
			e.Message += ": the cached policy stays in force"
		}
		if p.Mode == mtasts.ModeNone {
			e.Message += ": no MTA-STS"
		}
	case t.status == mtasts.StatusFailed:
		e.Rule = ruleSTSLookup
		e.Message = "no MTA-STS policy applies: " + stsFailureNote
	default:
		e.Message = "no MTA-STS policy"
	}
	if t.err != nil {
		e.Message += "; " + t.err.Error()
	}
	return e
}

// resolverTXT is an mtasts.TXTFunc asking res, as the route asks it: the
// answer validated as every other (lookup), CNAMEs followed, a Cache read in
// place. NXDOMAIN and NODATA are (nil, nil); each TXT record's strings are
// unescaped (txtBytes) and joined without spaces (RFC 8461, Section 3.1:
// "the TXT record ... MUST be concatenated ... without spaces").
func (r *Router) resolverTXT(res Resolver) mtasts.TXTFunc {
	return func(ctx context.Context, name string) ([]string, error) {
		ans, lerr := r.ask(ctx, res, dns.Fqdn(strings.ToLower(name)), dns.TypeTXT)
		if lerr != nil {
			return nil, newTemporary(name, "", lerr.detail, lerr.cause)
		}
		if ans.kind != found {
			return nil, nil
		}
		out := make([]string, 0, len(ans.rrs))
		for _, rr := range ans.rrs {
			if t, ok := rr.(*dns.TXT); ok {
				if len(t.Txt) == 1 {
					out = append(out, txtBytes(t.Txt[0])) // no copy unless escaped
					continue
				}
				var b strings.Builder
				for _, s := range t.Txt {
					b.WriteString(txtBytes(s))
				}
				out = append(out, b.String())
			}
		}
		return out, nil
	}
}

// txtBytes gives the bytes of a TXT character-string, which miekg/dns holds
// in presentation form (RFC 1035, Section 5.1): \DDD is the byte of decimal
// value DDD, \X is X. Joined as they are, a tab (\009) made a valid record
// "v=STSv1;\tid=1" malformed.
func txtBytes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && digit(s[i+1]) && digit(s[i+2]) && digit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n <= 255 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		i++
		b = append(b, s[i])
	}
	return string(b)
}

// settle decides h's TLS policy once its lookups have ended: DANE when its
// TLSA records say so (or unusable when their lookup failed), else the
// domain's MTA-STS policy (in mode enforce, a host matching no mx pattern
// is unusable), else opportunistic. It reports whether what h needs is not
// known because ctx ended (the route is then not complete). Nothing happens
// without Router.MTASTS and Router.DANE.
func (ro *routing) settle(ctx context.Context, h *mxHost) (cut bool) {
	r := ro.r
	if (r.MTASTS == nil && !r.DANE) || h.fqdn == "" {
		return false
	}
	t := tlsOf(h)
	if t.settled {
		return h.cut()
	}
	t.settled = true
	ro.settleDANE(ctx, h)
	st := ro.joinMTASTS(ctx)
	if r.DANE && !ro.rt.Authentic && !ro.daneTraced {
		ro.daneTraced = true
		if ro.trace().on() {
			ro.trace().emit(ctx, Event{Step: StepTLSA, Rule: ruleDANEMX,
				Message: "MX RRset of " + ro.rt.Canonical + " not authenticated: DANE does not apply, no TLSA question asked"})
		}
	}
	var sts *mtasts.Policy
	if st != nil && st.policy != nil && st.policy.Mode != mtasts.ModeNone {
		sts = st.policy
	}
	p := &TLSPolicy{Host: h.name, Roots: r.RootCAs}
	switch {
	case t.daneErr != nil:
		if r.hasTarget(h) {
			h.err = t.daneErr
		}
	case t.dane != nil && (t.dane.Mode() == dane.ModeDANE || sts == nil || sts.Mode != mtasts.ModeEnforce):
		// RFC 8461, Section 2: "senders who implement MTA-STS ... and
		// DANE ... SHOULD apply DANE" when the host has usable TLSA
		// records. A secure RRset of only unusable ones (ModeEncrypt:
		// TLS, no authentication) has no DANE validation to defer to:
		// under an enforced policy the policy's checks apply below (TLS
		// required too), or encryption only would replace WebPKI.
		p.Mode, p.DANE = TLSDANE, t.dane
		if sts != nil {
			t.stsWhy = "DANE takes precedence over the MTA-STS policy"
		}
	case sts != nil && sts.Match(h.name):
		p.Mode, p.MTASTS = TLSMTASTS, sts
		if sts.Mode == mtasts.ModeTesting {
			p.Mode = TLSMTASTSTesting
		}
		t.stsWhy = "matches the policy's mx patterns: " + p.Mode.String()
	case sts != nil && sts.Mode == mtasts.ModeTesting:
		// RFC 8461, Section 5: in mode testing, failures are reported and
		// "MUST NOT" be treated as delivery failures.
		p.Mode, p.MTASTS = TLSMTASTSTesting, sts
		t.stsWhy = "matches no mx pattern of the policy (mode testing: reported only)"
	case sts != nil:
		// RFC 8461, Section 4.1 and 5: in mode enforce, a host that does
		// not match the policy is not used; the mail waits (Section 5.1:
		// never a permanent failure on it before the policy was checked
		// again).
		t.stsWhy = "matches no mx pattern of the policy: unusable (mode enforce)"
		if r.hasTarget(h) {
			h.err = stsError(ro.domain, h.name, sts)
		}
	}
	if st != nil && st.policy == nil && st.status == mtasts.StatusFailed {
		p.MTASTSFailure = reportableSTS(st.err)
	}
	t.policy = p
	if tr := ro.trace(); tr.on() {
		if t.daneWhy != "" {
			tr.emit(ctx, t.daneEvent(h))
		}
		if sts != nil && t.stsWhy != "" {
			rule := ruleSTSMatch
			if p.Mode == TLSDANE {
				rule = ruleSTSvsDANE
			}
			e := Event{Step: StepMTASTSHost, Host: h.name, Preference: h.pref, Rule: rule,
				Message: fmt.Sprintf("%s (%d) %s (policy id %s)", h.name, h.pref, t.stsWhy, sts.ID)}
			if h.err != nil && h.err.Err == ErrMTASTS {
				e.Err = h.err
			}
			tr.emit(ctx, e)
		}
	}
	return h.cut() || (st != nil && st.cut)
}

// reportableSTS is err when it is a policy failure RFC 8460 names
// (Section 4.3.2.2: the fetch, the policy, the policy host's certificate),
// nil otherwise: a TXT record that is missing, malformed or not answered
// leaves no policy to report on.
func reportableSTS(err error) error {
	var me *mtasts.Error
	if errors.As(err, &me) && me.Result != "" {
		return err
	}
	return nil
}

func patterns(p *mtasts.Policy) string {
	s := make([]string, len(p.MX))
	for i, m := range p.MX {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}
