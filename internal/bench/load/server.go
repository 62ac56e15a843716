package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// serveEnv, set in the environment of a re-executed harness, makes it the
// DNS server instead: a separate process, so that its CPU, its socket and
// its receive buffer are its own, as a local resolver's are.
const serveEnv = "MXROUTE_LOAD_SERVE"

// zone answers "d<i>.load.test." with MX records "mx<j>.d<i>.load.test."
// (j = 1..hosts) and every "mx..." name with one A and one AAAA record, each
// after rtt.
type zone struct {
	hosts int
	rtt   time.Duration
}

func (z zone) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if z.rtt > 0 {
		time.Sleep(z.rtt)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 3600}
	}
	labels := dns.SplitDomainName(name)
	switch {
	case len(labels) == 4 && strings.HasPrefix(labels[0], "mx") && labels[2] == "load":
		i, _ := strconv.Atoi(strings.TrimPrefix(labels[1], "d"))
		j, _ := strconv.Atoi(strings.TrimPrefix(labels[0], "mx"))
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(10, byte(i>>8), byte(i), byte(j))})
		case dns.TypeAAAA:
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(fmt.Sprintf("2001:db8::%x:%x", i, j))})
		}
	case len(labels) == 3 && labels[1] == "load" && q.Qtype == dns.TypeMX:
		for j := 1; j <= z.hosts; j++ {
			m.Answer = append(m.Answer, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(10 * j), Mx: "mx" + strconv.Itoa(j) + "." + name})
		}
	case len(labels) >= 2 && labels[len(labels)-2] == "load":
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "load.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns: "ns.load.test.", Mbox: "h.load.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 300}}
	}
	m.Compress = true
	_ = w.WriteMsg(m)
}

// serve runs the server of a re-executed harness: UDP and TCP on one
// loopback port, the kernel's default receive buffer (no SetReadBuffer),
// its address written to out, until in is closed.
func serve(in io.Reader, out io.Writer) error {
	hosts, _ := strconv.Atoi(os.Getenv(serveEnv + "_HOSTS"))
	rtt, _ := time.ParseDuration(os.Getenv(serveEnv + "_RTT"))
	z := zone{hosts: max(hosts, 1), rtt: rtt}
	pc, ln, err := dnstest.Listen()
	if err != nil {
		return err
	}
	srvs := []*dns.Server{{PacketConn: pc, Handler: z}, {Listener: ln, Handler: z}}
	for _, srv := range srvs {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	fmt.Fprintln(out, pc.LocalAddr().String())
	_, _ = io.Copy(io.Discard, in) // until the parent closes our stdin (or dies)
	for _, srv := range srvs {
		_ = srv.Shutdown()
	}
	return nil
}

// server is the child process serving the zone.
type server struct {
	addr  string
	port  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startServer re-executes this program as the server.
func startServer(hosts int, rtt time.Duration) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$") // a test binary serves too (see TestMain)
	cmd.Env = append(os.Environ(), serveEnv+"=1", serveEnv+"_HOSTS="+strconv.Itoa(hosts), serveEnv+"_RTT="+rtt.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	addr := strings.TrimSpace(line)
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return &server{addr: addr, port: port, cmd: cmd, stdin: stdin}, nil
}

func (s *server) stop() error {
	s.stdin.Close()
	return s.cmd.Wait()
}

// drops returns the datagrams the kernel dropped at the server's UDP
// socket (the last column of /proc/net/udp: receive buffer full).
func (s *server) drops() (int64, error) {
	data, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0, err
	}
	want := fmt.Sprintf("0100007F:%04X", s.port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 13 && f[1] == want {
			return strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	return 0, errors.New("server socket not in /proc/net/udp")
}
