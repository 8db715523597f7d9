package access

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// entryValue is a decoded counter entry:
//
//	<start>:<used>[;<holder>=<used>,<lease>,<expires>]...
//
// start is the Unix second the window starts; used is use that no live
// replica accounts for any more (folded from records that expired). Each
// record belongs to one replica (holder, a random id per Guard): the use it
// has written so far in the window, the capacity it holds leased and unused,
// and the Unix millisecond its record expires unless renewed. An entry
// without records is the plain "<start>:<total>" of earlier versions, whose
// total then counts as used.
type entryValue struct {
	start, used int64
	holders     []holding
}

// holding is one replica's record in an entry.
type holding struct {
	id      string
	used    int64 // written use of the window, final
	lease   int64 // leased and not used yet; free again once expired
	expires int64 // Unix millisecond
}

// total is everything the entry charges against the limit, live leases and
// expired ones alike (what an observer without a clock sees).
func (v entryValue) total() int64 {
	t := v.used
	for _, h := range v.holders {
		t += h.used + h.lease
	}
	return t
}

// maxHolders bounds the records an entry may carry, so a malformed entry
// cannot make every replica do unbounded work; live replicas are far fewer.
const maxHolders = 1024

// appendCounterValue encodes an entry value.
func appendCounterValue(dst []byte, v entryValue) []byte {
	dst = strconv.AppendInt(dst, v.start, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, v.used, 10)
	for _, h := range v.holders {
		dst = append(dst, ';')
		dst = append(dst, h.id...)
		dst = append(dst, '=')
		dst = strconv.AppendInt(dst, h.used, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, h.lease, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, h.expires, 10)
	}
	return dst
}

// parseCounterValue decodes an entry value written by appendCounterValue.
func parseCounterValue(b []byte) (entryValue, error) {
	var v entryValue
	s := string(b)
	head, rest, more := strings.Cut(s, ";")
	i := strings.IndexByte(head, ':')
	if i < 0 {
		return v, errors.New("counter value: missing ':'")
	}
	var err error
	if v.start, err = parseCount(head[:i]); err != nil {
		return entryValue{}, fmt.Errorf("counter value: bad window start %q", head[:i])
	}
	if v.used, err = parseCount(head[i+1:]); err != nil {
		return entryValue{}, fmt.Errorf("counter value: bad total %q", head[i+1:])
	}
	for more {
		var rec string
		rec, rest, more = strings.Cut(rest, ";")
		h, err := parseHolding(rec)
		if err != nil {
			return entryValue{}, err
		}
		for _, o := range v.holders {
			if o.id == h.id {
				return entryValue{}, fmt.Errorf("counter value: holder %q twice", h.id)
			}
		}
		if len(v.holders) == maxHolders {
			return entryValue{}, fmt.Errorf("counter value: more than %d holders", maxHolders)
		}
		v.holders = append(v.holders, h)
	}
	return v, nil
}

func parseHolding(rec string) (holding, error) {
	id, nums, ok := strings.Cut(rec, "=")
	if !ok || !validHolderID(id) {
		return holding{}, fmt.Errorf("counter value: bad holder record %q", rec)
	}
	f := strings.Split(nums, ",")
	if len(f) != 3 {
		return holding{}, fmt.Errorf("counter value: holder record %q: want used,lease,expires", rec)
	}
	var h holding
	h.id = id
	var err error
	for i, dst := range [...]*int64{&h.used, &h.lease, &h.expires} {
		if *dst, err = parseCount(f[i]); err != nil {
			return holding{}, fmt.Errorf("counter value: holder record %q: bad number %q", rec, f[i])
		}
	}
	return h, nil
}

// parseCount parses a non-negative decimal number without sign or spaces.
func parseCount(s string) (int64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, errors.New("not a count")
	}
	return strconv.ParseInt(s, 10, 64)
}

// validHolderID reports whether id can be a holder: 1 to 32 lower-case
// letters and digits, so it never contains a separator.
func validHolderID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; !(b >= '0' && b <= '9' || b >= 'a' && b <= 'z') {
			return false
		}
	}
	return true
}
