package workers

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/aigateway/gateway/converter/sse"
)

// bodyReader reads a streamed upstream body straight from the connection
// into the caller's buffer, undoing the chunked transfer coding in place,
// and tells whether the body was read to its end.
//
// A stream is idle between events most of its life, often for seconds. A
// buffered reader of the connection would pin its buffer all that time, so
// the response head is read through a pooled one that is handed back at
// once (see roundTrip), and the body needs no buffer of its own: the bytes
// land in the event reader's buffer, which is the only one a stream holds.
// One read returns everything already received, several chunks included,
// so events that arrived together are converted and relayed together (see
// call.stream).
type bodyReader struct {
	conn net.Conn
	// raw is conn's descriptor, to wait on without a buffer (Wait); nil
	// when it has none, and reads then wait in the event reader's buffer.
	raw syscall.RawConn
	// head is what the head's reader had buffered past the head: the
	// start of the body, still coded, served before the connection.
	head []byte
	// length is the bytes left of a body framed by Content-Length; -1 for
	// a chunked body, -2 for one that ends when the connection closes.
	length int64
	chunks chunkDecoder
	eof    bool
	broken bool
	// trailing is set when bytes followed the end of the body.
	trailing bool
}

// newBodyReader returns the reader of a body framed as contentLength says
// (fasthttp's convention: -1 chunked, -2 until the connection closes).
// buffered is the start of the body; it is copied.
func newBodyReader(conn net.Conn, contentLength int, buffered []byte) *bodyReader {
	b := &bodyReader{conn: conn, raw: rawConn(conn), length: int64(contentLength)}
	if len(buffered) > 0 {
		b.head = append([]byte(nil), buffered...)
	}
	return b
}

var _ sse.Waiter = (*bodyReader)(nil)

// Wait returns once a Read would not block: the event reader calls it with
// nothing buffered, between events, and holds no buffer meanwhile. It
// returns at once when Read would not touch the connection.
func (b *bodyReader) Wait() error {
	if b.raw == nil || len(b.head) > 0 || b.eof || b.broken {
		return nil
	}
	if err := waitReadable(b.raw); err != nil {
		b.broken = true
		return err
	}
	return nil
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if b.eof {
			return 0, io.EOF
		}
		if b.broken {
			return 0, io.ErrUnexpectedEOF
		}
		if b.length >= 0 && b.length < int64(len(p)) {
			p = p[:b.length]
			if b.length == 0 {
				b.eof = true
				return 0, io.EOF
			}
		}
		n, err := b.fill(p)
		n, derr := b.decode(p[:n])
		switch {
		case errors.Is(derr, errTrailingData):
			b.eof, b.trailing = true, true
			return n, io.EOF
		case derr != nil:
			b.broken = true
			return n, derr
		}
		switch {
		case b.eof:
			return n, io.EOF
		case errors.Is(err, io.EOF) && b.length == -2:
			b.eof = true
			return n, io.EOF
		case errors.Is(err, io.EOF):
			b.broken = true
			return n, io.ErrUnexpectedEOF
		case err != nil:
			b.broken = true
			return n, err
		case n > 0:
			return n, nil
		}
		// Only framing arrived (a chunk-size line): read on.
	}
}

// fill reads raw body bytes into p: first what came with the head, then
// from the connection.
func (b *bodyReader) fill(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		if len(b.head) == 0 {
			b.head = nil
		}
		return n, nil
	}
	return b.conn.Read(p)
}

// decode turns the raw bytes in p into body bytes, in place, and returns
// how many there are.
func (b *bodyReader) decode(p []byte) (int, error) {
	switch {
	case b.length == -1:
		n, err := b.chunks.decode(p)
		if err == nil && b.chunks.done() {
			b.eof = true
		}
		return n, err
	case b.length >= 0:
		b.length -= int64(len(p))
		if b.length == 0 {
			b.eof = true
		}
	}
	return len(p), nil
}

// drain reads what is left of a stream whose last event has been handled
// (usually only the end of the chunked body), briefly, and reports whether
// the stream ended cleanly so that its connection can serve another call.
func (b *bodyReader) drain() bool {
	if b.eof || b.broken {
		return b.eof && !b.trailing
	}
	if err := b.conn.SetReadDeadline(time.Now().Add(drainTimeout)); err != nil {
		return false
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(b, maxDrainBytes))
	if !b.eof || b.trailing || n == maxDrainBytes {
		return false
	}
	return b.conn.SetReadDeadline(time.Time{}) == nil
}

// chunkDecoder undoes the chunked transfer coding (RFC 9112, section 7.1)
// of a byte stream that arrives in pieces of any size. It keeps only its
// state between pieces, never bytes: a chunk-size line split across two
// reads is parsed as it comes.
type chunkDecoder struct {
	state chunkState
	// left is the size of the current chunk not yet passed on.
	left uint64
	// digits counts the hex digits of the size line being read.
	digits int
}

type chunkState uint8

const (
	chunkSize        chunkState = iota // in the size's hex digits
	chunkSizeSpace                     // in whitespace after the size
	chunkExtension                     // in an extension (";name=value"), up to the end of the line
	chunkSizeLF                        // after the size line's CR
	chunkData                          // in the chunk's data
	chunkDataCR                        // after the data, at its CR
	chunkDataLF                        // after the data's CR
	chunkTrailer                       // at the start of a trailer line, or of the final blank line
	chunkTrailerLine                   // inside a trailer line
	chunkTrailerLF                     // after a CR in the trailer section
	chunkDone                          // the body has ended
)

// maxSizeDigits bounds a chunk size's hex digits, leading zeros included, so
// that it fits in 64 bits and a stream of zeros cannot go on for ever.
const maxSizeDigits = 16

// Errors of a chunked body.
var (
	// errMalformedChunk is a body that does not follow the chunked coding.
	errMalformedChunk = errors.New("malformed chunked encoding")
	// errTrailingData is a connection that sent bytes past the end of the
	// body: the body is whole, but the connection cannot be trusted for
	// another call.
	errTrailingData = errors.New("upstream sent data past the end of the body")
)

func (d *chunkDecoder) done() bool { return d.state == chunkDone }

// decode decodes p in place: the data of the chunks in p is moved to the
// front of p, and its length returned. After the end of the body, further
// bytes are errTrailingData.
func (d *chunkDecoder) decode(p []byte) (int, error) {
	out := 0
	for i := 0; i < len(p); {
		if d.state == chunkData {
			k := int(min(d.left, uint64(len(p)-i)))
			out += copy(p[out:], p[i:i+k])
			i += k
			d.left -= uint64(k)
			if d.left == 0 {
				d.state = chunkDataCR
			}
			continue
		}
		if d.state == chunkDone {
			return out, errTrailingData
		}
		if err := d.step(p[i]); err != nil {
			return out, err
		}
		i++
	}
	return out, nil
}

// step takes one byte of framing: a size line, the line end after a
// chunk's data, or the trailer section.
func (d *chunkDecoder) step(c byte) error {
	switch d.state {
	case chunkSize:
		if v, ok := hexValue(c); ok {
			if d.digits == maxSizeDigits {
				return fmt.Errorf("%w: chunk size too long", errMalformedChunk)
			}
			d.left = d.left<<4 | uint64(v)
			d.digits++
			return nil
		}
		if d.digits == 0 {
			return fmt.Errorf("%w: no chunk size", errMalformedChunk)
		}
		return d.afterSize(c)
	case chunkSizeSpace:
		return d.afterSize(c)
	case chunkExtension:
		switch c {
		case '\r':
			d.state = chunkSizeLF
		case '\n':
			d.endSizeLine()
		}
	case chunkSizeLF:
		if c != '\n' {
			return fmt.Errorf("%w: bare CR in a chunk-size line", errMalformedChunk)
		}
		d.endSizeLine()
	case chunkDataCR:
		switch c {
		case '\r':
			d.state = chunkDataLF
		case '\n':
			d.state = chunkSize
		default:
			return fmt.Errorf("%w: chunk longer than its size", errMalformedChunk)
		}
	case chunkDataLF:
		if c != '\n' {
			return fmt.Errorf("%w: bare CR after chunk data", errMalformedChunk)
		}
		d.state = chunkSize
	case chunkTrailer:
		switch c {
		case '\r':
			d.state = chunkTrailerLF
		case '\n':
			d.state = chunkDone
		default:
			d.state = chunkTrailerLine
		}
	case chunkTrailerLine:
		if c == '\n' {
			d.state = chunkTrailer
		}
	case chunkTrailerLF:
		if c != '\n' {
			return fmt.Errorf("%w: bare CR in the trailer section", errMalformedChunk)
		}
		d.state = chunkDone
	}
	return nil
}

// afterSize takes a byte after a chunk size's digits: whitespace, the start
// of an extension, or the end of the line.
func (d *chunkDecoder) afterSize(c byte) error {
	switch c {
	case ' ', '\t':
		d.state = chunkSizeSpace
	case ';':
		d.state = chunkExtension
	case '\r':
		d.state = chunkSizeLF
	case '\n':
		d.endSizeLine()
	default:
		return fmt.Errorf("%w: bad chunk size", errMalformedChunk)
	}
	return nil
}

// endSizeLine starts the chunk whose size line just ended, or the trailer
// section after the last chunk.
func (d *chunkDecoder) endSizeLine() {
	d.digits = 0
	if d.left == 0 {
		d.state = chunkTrailer
		return
	}
	d.state = chunkData
}

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
