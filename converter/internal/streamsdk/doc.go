// Package streamsdk holds no code: its tests replay upstream streams through
// the converter and feed the translated output to the official OpenAI and
// Anthropic Go SDKs' stream accumulators, the way real clients consume it.
// They live apart from package converter so that its own test binary (and
// its fuzzing) does not link the large SDKs.
package streamsdk
