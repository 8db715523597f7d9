package app

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dialSlowReader opens a connection whose receive buffer is as small as the
// kernel allows, so that a client that does not read pushes back on the
// gateway at once instead of after megabytes of socket buffers.
func dialSlowReader(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		// Called from client goroutines: no Fatal.
		t.Error(err)
		return nil
	}
	return conn
}

// slotSample is the number of busy upstream slots at a moment of the run.
type slotSample struct {
	at   time.Duration
	busy float64
}

// TestSlowReadersCannotStarveUpstream opens 64 streams whose clients never
// read, against an upstream with 8 slots, then sends a normal request: it
// must be answered in full, because each slow stream is cut after
// server.slow_client_timeout, freeing its slot, and ends with an error
// event rather than looking complete. The busy slots are sampled all along.
//
// SLOW_READERS_FOR=5m keeps that up for five minutes, adding 8 slow clients
// (that leave after 3 s) every 2 s while a normal client sends a request
// each round: the manual run behind the figure in docs/operations.md.
func TestSlowReadersCannotStarveUpstream(t *testing.T) {
	const (
		slowReaders = 64
		slots       = 8
	)
	hold := time.Duration(0)
	if v := os.Getenv("SLOW_READERS_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SLOW_READERS_FOR: %v", err)
		}
		hold = d
	}
	up := &bigStream{events: 1000, eventSize: 4 << 10}
	upstream := httptest.NewServer(up)
	t.Cleanup(upstream.Close)
	p := startProc(t, ModeAll, upstream.URL, upstream.URL, "", map[string]string{
		"GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY":   fmt.Sprint(slots),
		"GATEWAY_UPSTREAMS_OPENAI_QUEUE_SIZE":    "128",
		"GATEWAY_UPSTREAMS_OPENAI_QUEUE_TIMEOUT": "60s",
		"GATEWAY_SERVER_SLOW_CLIENT_TIMEOUT":     "1s",
	})
	addr := strings.TrimPrefix(p.url, "http://")
	busy := func() float64 { return gatheredValue(t, p.app, "gateway_worker_busy", "upstream", "openai") }

	start := time.Now()
	var samples []slotSample
	stopSampling := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		ticker := time.NewTicker(250 * time.Millisecond)
		defer ticker.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-ticker.C:
				samples = append(samples, slotSample{time.Since(start), busy()})
			}
		}
	})

	req := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		len(streamRequest("slow")), streamRequest("slow"))
	// Each slow client sends its request and reads nothing until told to.
	answers := make(chan string, slowReaders)
	done := make(chan struct{})
	release := sync.OnceFunc(func() { close(done) })
	t.Cleanup(release) // a failing test must not leave the clients waiting
	for range slowReaders {
		wg.Go(func() {
			conn := dialSlowReader(t, addr)
			if conn == nil {
				answers <- ""
				return
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, req); err != nil {
				t.Error(err)
			}
			<-done
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			raw, _ := io.ReadAll(conn)
			answers <- string(raw)
		})
	}
	eventually(t, 10*time.Second, func() error {
		if b := busy(); b != slots {
			return fmt.Errorf("%v slots busy, want all %d held by slow readers", b, slots)
		}
		return nil
	})

	// Normal clients are served while slow readers keep arriving.
	served := 0
	for deadline := time.Now().Add(hold); ; {
		fast, took, err := readStream(t, p.url+"/v1/chat/completions", streamRequest("fast"))
		if err != nil || !bytes.HasSuffix(fast.last, []byte("data: [DONE]\n\n")) {
			t.Fatalf("normal client behind %d slow readers: %v, %d bytes ending %q", slowReaders, err, fast.n, fast.last)
		}
		served++
		t.Logf("normal client served in %v at %v", took.Round(time.Millisecond), time.Since(start).Round(time.Second))
		if time.Now().After(deadline) {
			break
		}
		if hold > 0 {
			// Keep 64 slow readers at the gateway meanwhile.
			for range slots {
				wg.Go(func() {
					if conn := dialSlowReader(t, addr); conn != nil {
						defer conn.Close()
						_, _ = io.WriteString(conn, req)
						time.Sleep(3 * time.Second)
					}
				})
			}
			time.Sleep(2 * time.Second)
		}
	}
	eventually(t, 60*time.Second, func() error {
		if b := busy(); b != 0 {
			return fmt.Errorf("%v slots still busy", b)
		}
		return nil
	})
	release()
	cut, completeLooking := 0, 0
	for range slowReaders {
		raw := <-answers
		switch {
		case strings.Contains(raw, "data: [DONE]"):
			completeLooking++
		case strings.Contains(raw, "the client did not read it"):
			cut++
		}
	}
	close(stopSampling)
	wg.Wait()

	if completeLooking > 0 {
		t.Errorf("%d slow streams ended looking complete", completeLooking)
	}
	if cut == 0 {
		t.Errorf("no slow stream ended with the slow-client error event")
	}
	if n := gatheredValue(t, p.app, "gateway_slow_client_cuts_total", "upstream", "openai"); n < float64(cut) {
		t.Errorf("gateway_slow_client_cuts_total = %v, want at least %d", n, cut)
	}
	var peak float64
	var series strings.Builder
	for i, s := range samples {
		peak = max(peak, s.busy)
		if i%4 == 0 {
			fmt.Fprintf(&series, " %.0fs:%.0f", s.at.Seconds(), s.busy)
		}
	}
	t.Logf("%d slow readers, %d slots: %d normal requests served; %d slow streams cut with an error event; busy slots peak %.0f, over time:%s",
		slowReaders, slots, served, cut, peak, series.String())
}
