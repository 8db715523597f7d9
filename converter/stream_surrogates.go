package converter

import "bytes"

// Providers split a stream's text wherever a token ends, and a token may
// end between the two halves of a UTF-16 surrogate pair: an emoji then
// arrives as "\ud83d" at the end of one event's string and "\ude00" at the
// start of the next. Decoded one event at a time, each half is a lone
// surrogate and becomes U+FFFD. The converter holds a trailing high
// surrogate back and puts it in front of the low one in the next event, so
// that the pair decodes whole. Same-format streams forward bytes and need
// none of this.

// holdSurrogate removes a high-surrogate escape that ends a string value in
// data and returns data without it and the escape (6 bytes); data is not
// modified. It returns data unchanged and nil when there is none.
func holdSurrogate(data []byte) ([]byte, []byte) {
	for end := len(data); ; {
		i := bytes.LastIndex(data[:end], []byte(`"`))
		if i < 6 {
			return data, nil
		}
		esc := data[i-6 : i]
		if isSurrogateEscape(esc, 0xD800) && unescaped(data, i-6) {
			out := make([]byte, 0, len(data)-6)
			out = append(out, data[:i-6]...)
			out = append(out, data[i:]...)
			return out, append([]byte(nil), esc...)
		}
		end = i
	}
}

// releaseSurrogate puts a held high-surrogate escape in front of the first
// string value of data that starts with a low-surrogate escape.
func releaseSurrogate(data, held []byte) []byte {
	for from := 0; ; {
		i := bytes.Index(data[from:], []byte(`"\u`))
		if i < 0 {
			return data
		}
		i += from
		if i+7 <= len(data) && isSurrogateEscape(data[i+1:i+7], 0xDC00) && unescaped(data, i) {
			out := make([]byte, 0, len(data)+len(held))
			out = append(out, data[:i+1]...)
			out = append(out, held...)
			return append(out, data[i+1:]...)
		}
		from = i + 1
	}
}

// isSurrogateEscape reports whether b is \uXXXX with XXXX in
// [base, base+0x400): a high (0xD800) or low (0xDC00) surrogate.
func isSurrogateEscape(b []byte, base int) bool {
	if len(b) != 6 || b[0] != '\\' || (b[1] != 'u' && b[1] != 'U') {
		return false
	}
	v := 0
	for _, c := range b[2:] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return false
		}
	}
	return v >= base && v < base+0x400
}

// unescaped reports whether the byte at i is preceded by an even number of
// backslashes, that is, whether data[i] itself is not escaped. For a
// backslash at i that means it starts an escape.
func unescaped(data []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}
