package converter

import (
	"errors"
	"fmt"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Forwarded answers are patched, never re-encoded: these helpers find one
// member of an object with the request-side scanner (request_scan.go) and
// splice a new value in its place.

// errMemberFound stops an object walk once the wanted member is found.
var errMemberFound = errors.New("member found")

// findObjectMember returns the member key of the object that starts (after
// white space) at b[lo:hi]. Offsets in the result are absolute in b.
func findObjectMember(b []byte, lo, hi int, key string) (member, bool) {
	b = b[:hi]
	start := skipSpace(b, lo)
	if start >= len(b) || b[start] != '{' {
		return member{}, false
	}
	var found member
	ok := false
	_, _ = walkObject(b, start, 0, func(m member) error {
		if keyIs(b, m, key) {
			found, ok = m, true
			return errMemberFound
		}
		return nil
	})
	return found, ok
}

// replaceStringValue appends data to dst with the value of member key
// replaced by the JSON string value. path names the enclosing objects to
// descend into first (such as "message" in message_start). When the member
// is missing, data is appended unchanged.
func replaceStringValue(dst, data []byte, key, value string, path ...string) []byte {
	lo, hi := 0, len(data)
	for _, p := range path {
		m, ok := findObjectMember(data, lo, hi, p)
		if !ok {
			return append(dst, data...)
		}
		lo, hi = m.valStart, m.valEnd
	}
	m, ok := findObjectMember(data, lo, hi, key)
	if !ok {
		return append(dst, data...)
	}
	dst = append(dst, data[:m.valStart]...)
	dst = jsonx.AppendString(dst, value)
	return append(dst, data[m.valEnd:]...)
}

// decodeUpstream decodes an upstream document with jsonx. The decoder can
// panic (index out of range) on some malformed documents, such as a
// truncated escape inside a key; upstream bytes are not trusted, so such a
// panic is turned into an error instead of taking the worker down.
func decodeUpstream(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed JSON: %v", r)
		}
	}()
	return jsonx.Unmarshal(data, v)
}
