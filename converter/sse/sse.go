// Package sse splits a server-sent-events byte stream into events, keeping the
// exact bytes of each event so that a same-format route can forward them
// untouched while the gateway still sees the event's name and data.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrEventTooLarge is returned when a single event exceeds the reader's limit.
var ErrEventTooLarge = errors.New("sse: event exceeds size limit")

// Event is one server-sent event. Its slices alias the reader's buffer and are
// valid only until the next call to Next.
type Event struct {
	// Name is the value of the "event:" field, empty when absent.
	Name []byte
	// Data is the values of the "data:" fields joined with "\n".
	Data []byte
	// Raw is the event exactly as received, terminating blank line included.
	Raw []byte
}

// IsComment reports whether the event carries no name and no data, such as a
// keep-alive ": ping" comment block.
func (e Event) IsComment() bool { return len(e.Name) == 0 && len(e.Data) == 0 }

// Parse parses the first event in buf. It returns the number of bytes the event
// used and ok=false when buf does not yet hold a whole event. With atEOF set, a
// trailing event without its terminating blank line is returned as well, since
// real providers do end streams that way. scratch is reused to join multi-line
// data and may be nil.
func Parse(buf []byte, atEOF bool, scratch []byte) (ev Event, n int, ok bool, newScratch []byte) {
	pos := 0
	dataLines := 0
	for {
		line, next, found := cutLine(buf[pos:])
		if !found {
			if atEOF && pos < len(buf) {
				// At EOF a lone trailing "\r" is the line's terminator, not
				// part of its value.
				line = buf[pos:]
				if line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				if len(line) > 0 {
					ev, scratch = applyLine(ev, line, &dataLines, scratch)
				}
				ev.Raw = buf
				return ev, len(buf), true, scratch
			}
			if atEOF && pos > 0 {
				ev.Raw = buf[:pos]
				return ev, pos, true, scratch
			}
			return Event{}, 0, false, scratch
		}
		lineStart := pos
		pos += next
		if len(line) == 0 {
			if lineStart == 0 {
				// A stray blank line before any field: skip it as its own
				// (empty) event so the caller still advances.
				return Event{Raw: buf[:pos]}, pos, true, scratch
			}
			ev.Raw = buf[:pos]
			return ev, pos, true, scratch
		}
		ev, scratch = applyLine(ev, line, &dataLines, scratch)
	}
}

// cutLine returns the first line of b without its terminator, the length
// including the terminator, and whether a terminator was found. "\r\n", "\n"
// and "\r" all end a line; a lone "\r" at the end of b is not yet decisive.
func cutLine(b []byte) (line []byte, n int, found bool) {
	i := bytes.IndexAny(b, "\r\n")
	if i < 0 {
		return nil, 0, false
	}
	if b[i] == '\n' {
		return b[:i], i + 1, true
	}
	if i+1 == len(b) {
		return nil, 0, false
	}
	if b[i+1] == '\n' {
		return b[:i], i + 2, true
	}
	return b[:i], i + 1, true
}

func applyLine(ev Event, line []byte, dataLines *int, scratch []byte) (Event, []byte) {
	if line[0] == ':' {
		return ev, scratch
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		ev.Name = value
	case "data":
		*dataLines++
		switch *dataLines {
		case 1:
			ev.Data = value
		case 2:
			scratch = append(scratch[:0], ev.Data...)
			scratch = append(scratch, '\n')
			scratch = append(scratch, value...)
			ev.Data = scratch
		default:
			scratch = append(scratch, '\n')
			scratch = append(scratch, value...)
			ev.Data = scratch
		}
	}
	return ev, scratch
}

// Reader reads events from an io.Reader.
type Reader struct {
	src     io.Reader
	buf     []byte
	start   int
	end     int
	max     int
	eof     bool
	err     error
	scratch []byte

	// Where the search for the end of the pending event resumes, relative
	// to start: lineStart is the start of the first line not yet seen
	// whole, searched the offset up to which that line holds no line
	// break. Resuming there instead of parsing from start after every read
	// keeps a large event arriving in small reads linear rather than
	// quadratic in its size.
	lineStart int
	searched  int
	// scanned counts the bytes examined while looking for event ends, so
	// tests can check that the work stays linear in the input.
	scanned int
}

// initialBuffer is a Reader's first buffer. Most events are a few hundred
// bytes, so it starts small and doubles for the rare large event.
const initialBuffer = 1024

// freeBuffers holds initialBuffer-sized buffers of Readers that wait for
// their source with nothing buffered (see Waiter). It is a cache: nothing in
// it is seen by a caller.
var freeBuffers = sync.Pool{New: func() any { return new([initialBuffer]byte) }}

// Waiter is implemented by a source that can wait for its next bytes
// without a buffer to read them into, as a network connection can. A Reader
// over a Waiter hands its buffer back while it waits with nothing buffered:
// a stream that is idle between events, for seconds or minutes, then holds
// no buffer at all.
type Waiter interface {
	// Wait returns once a Read would not block, or with the error that
	// ended the wait. A Read must follow: Wait may return early.
	Wait() error
}

// NewReader returns a Reader over src that refuses events larger than maxEvent
// bytes.
func NewReader(src io.Reader, maxEvent int) *Reader {
	return &Reader{src: src, max: maxEvent}
}

// release hands the buffer back while nothing is buffered; a grown one is
// left to the collector, so that one large event is not paid for by the
// rest of the stream.
func (r *Reader) release() {
	if cap(r.buf) == initialBuffer {
		freeBuffers.Put((*[initialBuffer]byte)(r.buf[:initialBuffer]))
	}
	r.buf, r.start, r.end = nil, 0, 0
}

// acquire gives the Reader a buffer if it has none.
func (r *Reader) acquire() {
	if r.buf != nil {
		return
	}
	if r.max < initialBuffer {
		r.buf = make([]byte, max(r.max, 0))
		return
	}
	r.buf = freeBuffers.Get().(*[initialBuffer]byte)[:]
}

// Buffered reports whether a whole event is already buffered, so that the next
// call to Next will not block. Callers use it to coalesce bursts of events.
func (r *Reader) Buffered() bool {
	if r.start >= r.end {
		return false
	}
	// One parse per call, and callers call it once per event: linear.
	_, _, ok, _ := Parse(r.buf[r.start:r.end], r.eof && r.err == nil, nil)
	return ok
}

// pendingWhole reports whether the buffered bytes after start hold a whole
// event, that is a blank line. It resumes where the previous call stopped, so
// each byte is examined about once however many reads an event takes.
func (r *Reader) pendingWhole() bool {
	buf := r.buf[r.start:r.end]
	for {
		i := bytes.IndexAny(buf[r.searched:], "\r\n")
		if i < 0 {
			r.scanned += len(buf) - r.searched
			r.searched = len(buf)
			return false
		}
		r.scanned += i + 1
		i += r.searched
		n := 1
		if buf[i] == '\r' {
			if i+1 == len(buf) {
				// "\r" may be the first half of "\r\n": look again once
				// more bytes are in.
				r.searched = i
				return false
			}
			if buf[i+1] == '\n' {
				n = 2
			}
		}
		if i == r.lineStart {
			return true
		}
		r.lineStart = i + n
		r.searched = r.lineStart
	}
}

// Next returns the next event, or io.EOF after the last one. The event's slices
// are valid until the next call.
func (r *Reader) Next() (Event, error) {
	for {
		// After a read error a trailing partial event is not whole: only a
		// clean EOF may complete it.
		atEOF := r.eof && r.err == nil
		if r.start < r.end && (r.pendingWhole() || atEOF) {
			ev, n, ok, scratch := Parse(r.buf[r.start:r.end], atEOF, r.scratch)
			r.scratch = scratch
			if ok {
				r.scanned += n
				r.start += n
				r.lineStart, r.searched = 0, 0
				return ev, nil
			}
		}
		if r.eof {
			if r.err != nil {
				return Event{}, r.err
			}
			return Event{}, io.EOF
		}
		if err := r.fill(); err != nil {
			return Event{}, err
		}
	}
}

func (r *Reader) fill() error {
	if w, ok := r.src.(Waiter); ok && r.start == r.end {
		// Between events: wait without holding the buffer.
		r.release()
		if err := w.Wait(); err != nil {
			r.eof, r.err = true, err
			return nil
		}
	}
	r.acquire()
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		if len(r.buf) >= r.max {
			return fmt.Errorf("%w (%d bytes)", ErrEventTooLarge, r.max)
		}
		grown := make([]byte, min(2*len(r.buf), r.max))
		end := copy(grown, r.buf[:r.end])
		r.release() // the small buffer can serve another Reader
		r.buf, r.end = grown, end
	}
	n, err := r.src.Read(r.buf[r.end:])
	r.end += n
	if err != nil {
		r.eof = true
		if !errors.Is(err, io.EOF) {
			r.err = err
		}
	}
	return nil
}
