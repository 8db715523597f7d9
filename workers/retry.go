package workers

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryableStatus reports whether an upstream HTTP status may succeed on
// another attempt: rate limits, overload and server errors. Everything else
// the upstream would refuse again, and so would any other target.
func retryableStatus(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests:
		return true
	case status >= 500:
		return status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
	}
	return false
}

// maxRetryAfter bounds the Retry-After passed on; a provider asking for
// longer has, for this request, failed.
const maxRetryAfter = time.Hour

// retryAfter reads an upstream's wish for a pause before the next request:
// OpenAI's retry-after-ms, else Retry-After in seconds or as an HTTP date.
// 0 means none (or unreadable).
func retryAfter(get func(string) string, now time.Time) time.Duration {
	if v := strings.TrimSpace(get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return min(time.Duration(ms*float64(time.Millisecond)), maxRetryAfter)
		}
	}
	v := strings.TrimSpace(get("retry-after"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(secs*float64(time.Second)), maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
