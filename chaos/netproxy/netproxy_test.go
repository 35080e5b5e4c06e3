package netproxy

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// echo serves one line back per line on 127.0.0.1.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	t0 := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func TestProxy(t *testing.T) {
	p, err := New(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") {
		t.Fatalf("addr %s", p.Addr())
	}
	if d, err := roundTrip(p.Addr()); err != nil || d > 100*time.Millisecond {
		t.Fatalf("plain: %s %v", d, err)
	}
	if err := p.AddToxic(Toxic{Name: "lat", Type: "latency", Toxicity: 1, Attributes: map[string]any{"latency": 80}}); err != nil {
		t.Fatal(err)
	}
	if d, err := roundTrip(p.Addr()); err != nil || d < 80*time.Millisecond {
		t.Errorf("with 80 ms latency: %s %v", d, err)
	}
	if err := p.RemoveToxic(context.Background(), "lat"); err != nil {
		t.Fatal(err)
	}
	p.Disable()
	if _, err := roundTrip(p.Addr()); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("disabled: %v, want connection refused", err)
	}
	if err := p.Enable(); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(p.Addr()); err != nil {
		t.Errorf("enabled again on the same address: %v", err)
	}
	// TEST-NET-1 (RFC 5737): refused before any packet is sent.
	if _, err := New("192.0.2.1:80"); err == nil {
		t.Error("a non-loopback upstream was accepted")
	}
}
