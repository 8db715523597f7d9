// Package converter translates requests, responses, stream events and errors
// between the OpenAI Chat Completions and Anthropic Messages wire formats.
//
// It is pure: bytes or typed values in, bytes or typed values out, with no I/O
// and no global state, so every rule can be tested with golden files. Same-
// format traffic never goes through a translation: it is forwarded as is.
package converter

// Usage is the token accounting of one answer, in the gateway's own terms.
type Usage struct {
	// InputTokens counts every input token, cached ones included (OpenAI's
	// prompt_tokens; Anthropic's input_tokens + cache_read_input_tokens +
	// cache_creation_input_tokens).
	InputTokens int64
	// OutputTokens counts generated tokens, reasoning included.
	OutputTokens int64
	// CacheReadTokens counts input tokens served from the prompt cache.
	CacheReadTokens int64
	// CacheWriteTokens counts input tokens written to the prompt cache.
	CacheWriteTokens int64
}

// IsZero reports whether no token was counted.
func (u Usage) IsZero() bool { return u == Usage{} }
