//go:build !unix

package workers

import (
	"net"
	"syscall"
)

// rawConn returns nil: waiting without a buffer is for unix sockets only,
// and elsewhere a stream keeps its event buffer while idle.
func rawConn(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) error { return nil }
