package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newTestProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes a line and reads it back, with a deadline so a broken
// proxy fails the test instead of hanging it.
func roundTrip(c net.Conn, line string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

// expectClosed says whether the far side closed c: a read returns EOF or
// reset rather than timing out.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read data from a connection that should be closed")
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open: the proxy did not close it")
	}
}

func TestProxyForwards(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	for _, line := range []string{"one", "two", string(make([]byte, 3*proxyBufferBytes))} {
		got, err := roundTrip(c, line)
		if err != nil || got != line {
			t.Fatalf("round trip of %d bytes: got %d bytes, err %v", len(line), len(got), err)
		}
	}
}

func TestProxyCutRefuseAndHeal(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	old := dial(t, p.Addr())
	if _, err := roundTrip(old, "before"); err != nil {
		t.Fatal(err)
	}
	p.Cut(Refuse)
	if !p.IsCut() {
		t.Fatal("IsCut false after Cut")
	}
	expectClosed(t, old) // a cut ends the connections already made
	expectClosed(t, dial(t, p.Addr()))

	p.Heal()
	if got, err := roundTrip(dial(t, p.Addr()), "after"); err != nil || got != "after" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}

func TestProxyBlackhole(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	p.Cut(Blackhole)
	c := dial(t, p.Addr())
	// Writes succeed (the proxy reads and drops them) but nothing comes back.
	if _, err := io.WriteString(c, "lost\n"); err != nil {
		t.Fatalf("write into a blackhole failed: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed connection answered: %d bytes, err %v", n, err)
	}
	// Heal ends the blackholed connection so its dialer notices and redials.
	p.Heal()
	expectClosed(t, c)
	if got, err := roundTrip(dial(t, p.Addr()), "back"); err != nil || got != "back" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}

func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now: a killed node
	p := newTestProxy(t, target)
	expectClosed(t, dial(t, p.Addr()))
}

func TestProxyCloseEndsConnections(t *testing.T) {
	p, err := NewProxy("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, "x"); err != nil {
		t.Fatal(err)
	}
	p.Close() // returns only once every copier goroutine has exited
	expectClosed(t, c)
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c2.Close()
		t.Fatal("closed proxy still accepts")
	}
}
