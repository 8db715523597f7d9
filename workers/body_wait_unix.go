//go:build unix

package workers

import (
	"net"
	"syscall"
)

// rawConn is conn's file descriptor for waiting on, when it has one: a TCP
// connection does, a TLS one does not (it may hold decrypted bytes back).
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// waitReadable waits until a read of rc would not block. It asks the socket
// first, without taking anything from it: the poller reports only bytes
// that arrive after it is armed, and some may be there already.
func waitReadable(rc syscall.RawConn) error {
	asked := false
	return rc.Read(func(fd uintptr) bool {
		if asked {
			return true // woken by the poller
		}
		asked = true
		return !wouldBlock(fd)
	})
}

// wouldBlock reports whether the socket fd has nothing to read: no byte,
// no end of stream, no error.
func wouldBlock(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return true
		}
		return false
	}
}
