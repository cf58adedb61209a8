package postgres

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// faultProxy sits between pgx and Postgres on 127.0.0.1 and breaks the
// connections the way a crashing server or a network does: it can refuse
// every connection (down), or cut the connection that sends the next COMMIT,
// either before the server gets it or after the server has executed it but
// before its answer reaches the client.
type faultProxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	cut   *commitCut // armed cut, taken by the first connection that sends COMMIT
}

type cutPoint int

const (
	// cutBeforeCommit drops the COMMIT: the server rolls the transaction back.
	cutBeforeCommit cutPoint = iota
	// cutAfterCommit lets the server execute the COMMIT and drops its answer.
	cutAfterCommit
)

func (p cutPoint) String() string {
	if p == cutBeforeCommit {
		return "before COMMIT reaches the server"
	}
	return "after the server committed"
}

type commitCut struct {
	point cutPoint
	done  chan struct{} // closed once the connection is cut
}

// commitMessage is the simple-protocol Query message pgx sends for tx.Commit:
// 'Q', int32 length (4 + len("commit\x00")), "commit\x00".
var commitMessage = []byte("Q\x00\x00\x00\x0bcommit\x00")

func startFaultProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept(ln)
	t.Cleanup(func() { p.down() })
	return p
}

// port is the proxy's TCP port.
func (p *faultProxy) port() int {
	_, port, _ := net.SplitHostPort(p.addr)
	n, _ := strconv.Atoi(port)
	return n
}

// dsnFor rewrites a DSN of the target to go through the proxy.
func (p *faultProxy) dsnFor(dsn string) string {
	_, targetPort, _ := net.SplitHostPort(p.target)
	return strings.Replace(dsn, "127.0.0.1:"+targetPort, p.addr, 1)
}

// armCut makes the proxy cut the next connection that sends COMMIT at point;
// the returned channel is closed once it has.
func (p *faultProxy) armCut(point cutPoint) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = &commitCut{point: point, done: make(chan struct{})}
	return p.cut.done
}

func (p *faultProxy) takeCut() *commitCut {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.cut
	p.cut = nil
	return c
}

// down closes every connection and stops listening: new connections are refused.
func (p *faultProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// up listens again on the same address.
func (p *faultProxy) up() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.ln = ln
	go p.accept(ln)
}

func (p *faultProxy) accept(ln net.Listener) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln { // went down meanwhile
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pc := &proxiedConn{proxy: p, client: client, server: server}
		go pc.clientToServer()
		go pc.serverToClient()
	}
}

type proxiedConn struct {
	proxy          *faultProxy
	client, server net.Conn

	mu        sync.Mutex
	answerCut *commitCut // set once a COMMIT went through that must lose its answer
}

func (c *proxiedConn) close() {
	_ = c.client.Close()
	_ = c.server.Close()
	c.proxy.mu.Lock()
	delete(c.proxy.conns, c.client)
	delete(c.proxy.conns, c.server)
	c.proxy.mu.Unlock()
}

func (c *proxiedConn) clientToServer() {
	defer c.close()
	buf := make([]byte, 64<<10)
	var tail []byte // the end of what came before, for a COMMIT split across reads
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			window := append(append([]byte(nil), tail...), chunk...)
			matched := bytes.Contains(window, commitMessage)
			if matched {
				if cut := c.proxy.takeCut(); cut != nil {
					if cut.point == cutBeforeCommit {
						close(cut.done)
						return
					}
					c.mu.Lock()
					c.answerCut = cut
					c.mu.Unlock()
				}
			}
			if len(window) > len(commitMessage) {
				window = window[len(window)-len(commitMessage):]
			}
			tail = window
			if matched {
				// A COMMIT counts once: the next message must not match it
				// again through the bytes kept to find one split across reads.
				tail = nil
			}
			if _, werr := c.server.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (c *proxiedConn) serverToClient() {
	defer c.close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			c.mu.Lock()
			cut := c.answerCut
			c.mu.Unlock()
			if cut != nil {
				// The server has answered the COMMIT: it is applied. The
				// answer is dropped with the connection.
				close(cut.done)
				return
			}
			if _, werr := c.client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
