package ingress

import (
	"errors"
	"net"
	"syscall"
)

// clientGone reports whether the peer of c has closed its connection. It
// peeks without consuming, so a pipelined request stays in the socket.
// fasthttp has no per-request cancellation: without this, a client that
// leaves while its request waits in the queue is only noticed at the first
// write, which may be seconds later.
func clientGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0 // an orderly shutdown by the peer
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			gone = true // reset or otherwise broken
		}
		return true
	})
	return gone
}
