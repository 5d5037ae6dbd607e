package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// proxyBufferBytes bounds what one direction of one proxied connection holds
// in flight: the proxy copies through a fixed buffer, so a slow reader slows
// the writer (TCP back-pressure) instead of growing memory.
const proxyBufferBytes = 32 << 10

// proxyDialTimeout bounds how long a new connection waits for its target;
// a target that is down (killed node) refuses at once on loopback anyway.
const proxyDialTimeout = 2 * time.Second

// CutMode says what a cut link does with connections made while it is cut.
type CutMode int

const (
	// Refuse closes new connections as soon as they are accepted, like a
	// host answering with a reset.
	Refuse CutMode = iota
	// Blackhole accepts new connections and reads and discards whatever
	// they send, never answering, like a network dropping packets: the
	// sender's writes succeed and only its timeouts notice.
	Blackhole
)

func (m CutMode) String() string {
	if m == Blackhole {
		return "blackhole"
	}
	return "refuse"
}

// Proxy forwards TCP connections from its listen address to a target
// address until cut. One Proxy carries one directed peer link: the
// connections one node dials to reach another.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	mode   CutMode
	conns  map[net.Conn]struct{} // every open connection, both sides, so Cut and Close can end them
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on listen ("127.0.0.1:0" picks a port; see Addr) and
// forwards each accepted connection to target.
func NewProxy(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", target, err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Cut ends every connection through the proxy and, until Heal, treats new
// ones as mode says.
func (p *Proxy) Cut(mode CutMode) {
	p.mu.Lock()
	p.cut, p.mode = true, mode
	conns := p.takeConnsLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Heal lets new connections through again. Connections blackholed while cut
// are closed, so their dialers notice and dial again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	conns := p.takeConnsLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Close stops listening, ends every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.takeConnsLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
	return err
}

// takeConnsLocked empties the connection set. Closing a connection makes its
// copier goroutines exit and forget it; they find it already gone.
func (p *Proxy) takeConnsLocked() []net.Conn {
	out := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		out = append(out, c)
	}
	clear(p.conns)
	return out
}

// track adds conns to the set unless the proxy closed, or was cut after the
// caller looked (then the caller must drop them). It returns whether they were
// added.
func (p *Proxy) track(wantCut bool, conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.cut != wantCut {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) forget(conns ...net.Conn) {
	p.mu.Lock()
	for _, c := range conns {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (too many files): back off rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		cut, mode := p.cut, p.mode
		p.mu.Unlock()
		switch {
		case cut && mode == Refuse:
			c.Close()
		case cut:
			if !p.track(true, c) {
				c.Close()
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				buf := make([]byte, proxyBufferBytes)
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
				c.Close()
				p.forget(c)
			}()
		default:
			p.wg.Add(1)
			go p.forward(c)
		}
	}
}

// forward dials the target and copies both ways until either side ends or
// the link is cut; then both connections close, as a broken network would
// leave them.
func (p *Proxy) forward(in net.Conn) {
	defer p.wg.Done()
	out, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(false, in, out) {
		in.Close()
		out.Close()
		return
	}
	var once sync.Once
	done := func() {
		once.Do(func() {
			in.Close()
			out.Close()
			p.forget(in, out)
		})
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		io.CopyBuffer(out, in, make([]byte, proxyBufferBytes))
		done()
	}()
	io.CopyBuffer(in, out, make([]byte, proxyBufferBytes))
	done()
}
