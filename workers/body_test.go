package workers

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"testing"
)

// decodeInPieces runs raw through a chunkDecoder in pieces of at most
// piece bytes, as reads from a connection would bring it.
func decodeInPieces(raw []byte, piece int) (data []byte, done bool, err error) {
	var d chunkDecoder
	buf := append([]byte(nil), raw...)
	for len(buf) > 0 {
		k := min(piece, len(buf))
		n, err := d.decode(buf[:k])
		data = append(data, buf[:n]...)
		if err != nil {
			return data, d.done(), err
		}
		buf = buf[k:]
	}
	return data, d.done(), nil
}

func TestChunkDecoder(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		want     string
		done     bool
		err      error
		trailing bool
	}{
		{name: "one chunk", raw: "5\r\nhello\r\n0\r\n\r\n", want: "hello", done: true},
		{name: "several chunks", raw: "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", want: "abcde", done: true},
		{name: "upper and lower hex", raw: "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", want: "01234567890123456789", done: true},
		{name: "leading zeros", raw: "0003\r\nabc\r\n000\r\n\r\n", want: "abc", done: true},
		{name: "extensions", raw: "3;name=value\r\nabc\r\n0;last\r\n\r\n", want: "abc", done: true},
		{name: "whitespace before an extension", raw: "3 \t;x\r\nabc\r\n0\r\n\r\n", want: "abc", done: true},
		{name: "bare LF line ends", raw: "3\nabc\n0\n\n", want: "abc", done: true},
		{name: "trailers", raw: "3\r\nabc\r\n0\r\nX-Usage: 1\r\nX-Other: 2\r\n\r\n", want: "abc", done: true},
		{name: "data that looks like framing", raw: "7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n", want: "0\r\n\r\n\r\n", done: true},
		{name: "not ended yet", raw: "5\r\nhello\r\n", want: "hello"},
		{name: "in a size line", raw: "5\r\nhello\r\n1", want: "hello"},
		{name: "bytes after the end", raw: "0\r\n\r\nHTTP/1.1", done: true, err: errTrailingData},
		{name: "no size", raw: "\r\nabc", err: errMalformedChunk},
		{name: "bad size", raw: "3x\r\nabc\r\n", err: errMalformedChunk},
		{name: "negative size", raw: "-3\r\nabc\r\n", err: errMalformedChunk},
		{name: "size too long", raw: "10000000000000000\r\n", err: errMalformedChunk},
		{name: "chunk longer than its size", raw: "2\r\nabc\r\n", want: "ab", err: errMalformedChunk},
		{name: "bare CR in a size line", raw: "3\rabc", err: errMalformedChunk},
		{name: "bare CR after data", raw: "3\r\nabc\rx", want: "abc", err: errMalformedChunk},
		{name: "bare CR in the trailers", raw: "0\r\n\rx", err: errMalformedChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whatever the pieces, the outcome is the same.
			for piece := 1; piece <= len(tt.raw); piece++ {
				got, done, err := decodeInPieces([]byte(tt.raw), piece)
				if string(got) != tt.want || done != tt.done || !errors.Is(err, tt.err) {
					t.Fatalf("in pieces of %d: data %q, done %v, err %v; want %q, %v, %v",
						piece, got, done, err, tt.want, tt.done, tt.err)
				}
			}
		})
	}
}

// FuzzChunkDecoder checks the decoder against the standard library's
// encoder and decoder: what one encodes it decodes, in pieces of any size,
// and on any input it agrees with the standard decoder when both accept it.
func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("data: {\"n\":1}\n\n"), uint8(7), uint8(3), []byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte(""), uint8(1), uint8(1), []byte("3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"))
	f.Add(bytes.Repeat([]byte("x"), 300), uint8(255), uint8(64), []byte("ff\r\n"))
	f.Fuzz(func(t *testing.T, data []byte, chunk, piece uint8, raw []byte) {
		var coded bytes.Buffer
		w := httputil.NewChunkedWriter(&coded)
		for rest := data; len(rest) > 0; {
			k := min(int(chunk)+1, len(rest))
			_, _ = w.Write(rest[:k])
			rest = rest[k:]
		}
		_ = w.Close()
		coded.WriteString("\r\n")
		got, done, err := decodeInPieces(coded.Bytes(), int(piece)+1)
		if err != nil || !done || !bytes.Equal(got, data) {
			t.Fatalf("decoding %q: data %q, done %v, err %v", coded.Bytes(), got, done, err)
		}

		got, done, err = decodeInPieces(raw, int(piece)+1)
		if len(got) > len(raw) {
			t.Fatalf("decoded %d bytes out of %d", len(got), len(raw))
		}
		want, stdErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(raw)))
		if err == nil && done && stdErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoding %q: %q, the standard decoder %q", raw, got, want)
		}
	})
}

// pipeBody serves raw as the far end of a connection, in the given writes,
// and returns a bodyReader over the near end.
func pipeBody(t *testing.T, contentLength int, buffered string, writes ...string) *bodyReader {
	t.Helper()
	near, far := net.Pipe()
	t.Cleanup(func() { near.Close() })
	go func() {
		defer far.Close()
		for _, w := range writes {
			if _, err := io.WriteString(far, w); err != nil {
				return
			}
		}
	}()
	return newBodyReader(near, contentLength, []byte(buffered))
}

func TestBodyReader(t *testing.T) {
	tests := []struct {
		name          string
		contentLength int
		buffered      string
		writes        []string
		want          string
		err           error
		reusable      bool
	}{
		{name: "chunked", contentLength: -1, writes: []string{"5\r\nhello\r\n", "6\r\n world\r\n", "0\r\n\r\n"},
			want: "hello world", reusable: true},
		{name: "chunked, started with the head", contentLength: -1, buffered: "5\r\nhel",
			writes: []string{"lo\r\n0\r\n\r\n"}, want: "hello", reusable: true},
		{name: "chunked, whole with the head", contentLength: -1, buffered: "5\r\nhello\r\n0\r\n\r\n",
			want: "hello", reusable: true},
		{name: "chunked, cut short", contentLength: -1, writes: []string{"5\r\nhello\r\n"},
			want: "hello", err: io.ErrUnexpectedEOF},
		{name: "chunked, malformed", contentLength: -1, writes: []string{"zz\r\n"}, err: errMalformedChunk},
		{name: "chunked, data after the end", contentLength: -1, writes: []string{"5\r\nhello\r\n0\r\n\r\nextra"},
			want: "hello"},
		{name: "content length", contentLength: 11, buffered: "hello", writes: []string{" world"},
			want: "hello world", reusable: true},
		{name: "content length, cut short", contentLength: 11, writes: []string{"hello"},
			want: "hello", err: io.ErrUnexpectedEOF},
		{name: "until close", contentLength: -2, writes: []string{"hello", " world"}, want: "hello world"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := pipeBody(t, tt.contentLength, tt.buffered, tt.writes...)
			got, err := io.ReadAll(b)
			if string(got) != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("read %q, err %v; want %q, %v", got, err, tt.want, tt.err)
			}
			// The connection is reusable only after a body whose end was
			// its framing's, with nothing after it (a body that ends with
			// its connection is never: upstreamResponse.reusable).
			if reusable := b.drain(); reusable != tt.reusable && tt.contentLength != -2 {
				t.Errorf("drain() = %v, want %v", reusable, tt.reusable)
			}
		})
	}
}

// TestBodyReaderReturnsWhatArrived checks that a read returns the data of
// every chunk already received, and does not wait for more.
func TestBodyReaderReturnsWhatArrived(t *testing.T) {
	near, far := net.Pipe()
	defer near.Close()
	defer far.Close()
	b := newBodyReader(near, -1, nil)
	go func() { _, _ = io.WriteString(far, "3\r\nabc\r\n2\r\nde\r\n") }()
	buf := make([]byte, 64)
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "abcde" {
		t.Fatalf("read %q, %v; want both chunks", buf[:n], err)
	}
	// A size line alone brings no data: the read goes on for it.
	go func() { _, _ = io.WriteString(far, "4\r\n"); _, _ = io.WriteString(far, "wxyz\r\n") }()
	n, err = b.Read(buf)
	if err != nil || !strings.HasPrefix("wxyz", string(buf[:n])) || n == 0 {
		t.Fatalf("read %q, %v; want the next chunk's data", buf[:n], err)
	}
}
