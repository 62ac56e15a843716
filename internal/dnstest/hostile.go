package dnstest

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// An Attack is one way a Hostile server misbehaves.
type Attack int

const (
	// Honest answers from the Backend, nothing else.
	Honest Attack = iota
	// Poison answers honestly and plants the Plant records in the answer,
	// authority and additional sections of every reply: the records of a
	// cache-poisoning attempt, unrelated to the question.
	Poison
	// WrongQuestion replies, with the Plant records, to another question
	// (the name "attacker.example.") than the one asked.
	WrongQuestion
	// WrongID replies, with the Plant records, under another message ID.
	WrongID
	// ForgedFirst sends over UDP, before the honest reply, a burst of
	// datagrams a resolver must drop: a wrong ID, a wrong question, a
	// query (QR clear), a reply with another opcode, garbage and a short
	// header, each carrying the Plant records where it has records.
	ForgedFirst
	// TruncatedThenGarbage sets TC over UDP (with the Plant records as the
	// partial answer) and sends garbage over TCP.
	TruncatedThenGarbage
	// TruncatedTwice sets TC over UDP and over TCP.
	TruncatedTwice
	// EndlessCNAME answers every name with a CNAME to a fresh name below
	// the name asked: a chain that never ends.
	EndlessCNAME
	// Huge answers MX and A questions with as many records as fit in one
	// 65,535-byte message (RFC 1035, Section 4.2.2: the TCP length field is
	// 16 bits), compressed; UDP gets TC.
	Huge
	// Late answers honestly after Delay.
	Late
	// Silent never answers.
	Silent
)

var attackNames = [...]string{"Honest", "Poison", "WrongQuestion", "WrongID", "ForgedFirst",
	"TruncatedThenGarbage", "TruncatedTwice", "EndlessCNAME", "Huge", "Late", "Silent"}

func (a Attack) String() string {
	if int(a) < len(attackNames) {
		return attackNames[a]
	}
	return fmt.Sprintf("Attack(%d)", int(a))
}

// Hostile is a dns.Handler that answers from Backend and misbehaves as
// Attack says. Serve it with Serve.
type Hostile struct {
	Attack  Attack
	Backend *Zone         // the honest answers
	Plant   []dns.RR      // the attacker's records, for Poison and the forgeries
	PlantOn uint16        // plant only in replies to this type; 0: in every reply
	Delay   time.Duration // for Late

	queries atomic.Int64
	fresh   atomic.Int64
}

// Queries is how many questions the server has received.
func (h *Hostile) Queries() int64 { return h.queries.Load() }

// ServeDNS implements dns.Handler.
func (h *Hostile) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	h.queries.Add(1)
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	honest := h.Backend.Reply(req)
	planted := func(m *dns.Msg) *dns.Msg {
		if h.PlantOn != 0 && h.PlantOn != q.Qtype {
			return m
		}
		m.Answer = append(m.Answer, copyRRs(h.Plant)...)
		m.Ns = append(m.Ns, copyRRs(h.Plant)...)
		m.Extra = append(m.Extra, copyRRs(h.Plant)...)
		return m
	}
	switch h.Attack {
	case Honest:
		_ = w.WriteMsg(honest)
	case Poison:
		_ = w.WriteMsg(planted(honest))
	case WrongQuestion:
		m := planted(honest)
		m.Question[0].Name = "attacker.example."
		_ = w.WriteMsg(m)
	case WrongID:
		m := planted(honest)
		m.Id = req.Id + 1
		_ = w.WriteMsg(m)
	case ForgedFirst:
		if udp {
			for _, forge := range []func(*dns.Msg){
				func(m *dns.Msg) { m.Id = req.Id ^ 0x5555 },
				func(m *dns.Msg) { m.Question[0].Name = "attacker.example." },
				func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeTXT },
				func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS },
				func(m *dns.Msg) { m.Response = false },
				func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify },
			} {
				m := planted(h.Backend.Reply(req))
				forge(m)
				_ = w.WriteMsg(m)
			}
			_, _ = w.Write([]byte("\x00\x01garbage that is no DNS message at all"))
			_, _ = w.Write([]byte{byte(req.Id >> 8), byte(req.Id)}) // a short header
		}
		_ = w.WriteMsg(honest)
	case TruncatedThenGarbage:
		if udp {
			m := planted(honest)
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
		b, _ := honest.Pack()
		for i := 2; i < len(b); i++ { // keep the ID; the rest is noise
			b[i] ^= 0xA5
		}
		_, _ = w.Write(b)
	case TruncatedTwice:
		m := planted(honest)
		m.Truncated = true
		_ = w.WriteMsg(m)
	case EndlessCNAME:
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative, m.RecursionAvailable = true, true
		next := fmt.Sprintf("c%d.%s", h.fresh.Add(1), q.Name)
		if len(next) > 250 { // stay a valid name; still fresh every hop
			next = fmt.Sprintf("c%d.endless.test.", h.fresh.Add(1))
		}
		m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: next}}
		_ = w.WriteMsg(m)
	case Huge:
		m := HugeReply(req)
		if udp {
			m.Answer = nil
			m.Truncated = true
		}
		_ = w.WriteMsg(m)
	case Late:
		time.Sleep(h.Delay)
		_ = w.WriteMsg(honest)
	case Silent:
	}
}

// HugeReply answers an MX or A question with as many records as fit in one
// compressed 65,535-byte message: MX records "10 mxN.<qname>", A records
// from 10.0.0.0/8.
func HugeReply(req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	m.Compress = true
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 60}
	n := 4500 // more than fit; trimmed below
	for i := range n {
		switch q.Qtype {
		case dns.TypeMX:
			m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: uint16(i % 50), Mx: fmt.Sprintf("mx%d.%s", i, q.Name)})
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))})
		}
	}
	for m.Len() > dns.MaxMsgSize && len(m.Answer) > 0 {
		m.Answer = m.Answer[:len(m.Answer)-len(m.Answer)/50-1]
	}
	return m
}

// A Zone is a minimal authoritative backend for a Hostile server: the
// records it holds, answered by owner and type, NXDOMAIN for a name it does
// not hold, NODATA for one that exists without the type.
type Zone struct {
	RRs []dns.RR
	// AD sets the AD bit in every reply, as a validating resolver does
	// for a signed zone.
	AD bool
}

// NewZone parses records in presentation format into a Zone.
func NewZone(rrs ...string) *Zone { return &Zone{RRs: RRs(rrs...)} }

// Reply is the honest reply to req.
func (z *Zone) Reply(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	m.AuthenticatedData = z != nil && z.AD
	if z == nil || len(req.Question) != 1 {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	q := req.Question[0]
	exists := false
	for _, rr := range z.RRs {
		h := rr.Header()
		if !strings.EqualFold(h.Name, q.Name) {
			continue
		}
		exists = true
		if h.Rrtype == q.Qtype || (h.Rrtype == dns.TypeCNAME && q.Qtype != dns.TypeCNAME) {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	return m
}

func copyRRs(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}
