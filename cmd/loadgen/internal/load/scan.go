package load

import "bytes"

// eventScanner counts server-sent events as their bytes arrive and spots the
// stream's closing event, without keeping the events: only the first
// headLen bytes of each line are held, which is all the closing markers
// need. That keeps the per-stream cost to one pass over the bytes, so the
// load generator spends its CPU on sending load rather than on parsing it.
type eventScanner struct {
	// marker is the line that closes the stream, e.g. "data: [DONE]".
	marker string

	head      [headLen]byte
	headN     int  // bytes of the current line held in head
	lineN     int  // bytes in the current line so far
	pendingCR bool // the last byte was '\r': a following '\n' belongs to it
	fields    bool // the current event has a field other than a comment

	// events is the number of whole events seen so far; comment-only blocks
	// such as ": ping" keep-alives do not count.
	events int
	// done reports whether the closing marker has been seen.
	done bool
}

// headLen bounds the bytes of a line the scanner looks at.
const headLen = 32

// Closing lines of the two stream dialects. A space after the colon is
// optional in SSE, so both spellings are accepted.
const (
	markerOpenAI    = "data: [DONE]"
	markerAnthropic = "event: message_stop"
)

// reset prepares the scanner for a new stream closed by marker.
func (s *eventScanner) reset(marker string) {
	*s = eventScanner{marker: marker}
}

// feed scans p and returns how many events it completed.
func (s *eventScanner) feed(p []byte) int {
	before := s.events
	for len(p) > 0 {
		if s.pendingCR {
			s.pendingCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		// Lines end in "\n" almost always; IndexByte is vectorised, so look
		// for it first and for a rarer "\r" only before it.
		end := bytes.IndexByte(p, '\n')
		if end < 0 {
			end = len(p)
		}
		if cr := bytes.IndexByte(p[:end], '\r'); cr >= 0 {
			end = cr
		}
		if s.headN < headLen {
			s.headN += copy(s.head[s.headN:], p[:end])
		}
		s.lineN += end
		if end == len(p) {
			break
		}
		s.pendingCR = p[end] == '\r'
		p = p[end+1:]
		s.endLine()
	}
	return s.events - before
}

// finish ends the stream: a last event without its blank line still counts,
// as real providers do end streams that way. It returns the events it
// completed.
func (s *eventScanner) finish() int {
	before := s.events
	if s.lineN > 0 {
		s.endLine()
	}
	if s.fields {
		s.fields = false
		s.events++
	}
	return s.events - before
}

func (s *eventScanner) endLine() {
	n, head := s.lineN, s.head[:s.headN]
	s.lineN, s.headN = 0, 0
	if n == 0 {
		if s.fields {
			s.fields = false
			s.events++
		}
		return
	}
	if head[0] == ':' {
		return
	}
	s.fields = true
	if !s.done && s.marker != "" && matchesMarker(head, n, s.marker) {
		s.done = true
	}
}

// matchesMarker reports whether a line of n bytes starting with head is
// marker, with or without the space after the colon.
func matchesMarker(head []byte, n int, marker string) bool {
	if n == len(marker) && string(head) == marker {
		return true
	}
	// "data:[DONE]": the marker less its single space after the colon.
	for i := 0; i+1 < len(marker); i++ {
		if marker[i] == ':' && marker[i+1] == ' ' {
			return n == len(marker)-1 && string(head) == marker[:i+1]+marker[i+2:]
		}
	}
	return false
}
