package converter

import (
	"strconv"
	"strings"
)

// thinkingStyle is how a Claude model takes extended thinking.
type thinkingStyle int

const (
	// thinkingBudget: thinking: {type: enabled, budget_tokens}.
	thinkingBudget thinkingStyle = iota
	// thinkingAdaptive: only thinking: {type: adaptive}, with the depth
	// chosen by output_config.effort; a budget is refused with 400.
	thinkingAdaptive
)

// claudeCapability is one row of the model-capability table.
type claudeCapability struct {
	// family is the model family in the name (opus, sonnet, haiku).
	family string
	// since is the first version, major*100 + minor, the row applies to.
	since    int
	thinking thinkingStyle
}

// claudeCapabilities lists how Claude models differ in what they accept,
// newest first within a family; a model matches the first row of its family
// whose version it reaches, and models the table does not name take budget
// thinking. docs/conversion.md has the same table: change both together.
//
// Claude Opus 4.7 and later accept only adaptive thinking.
var claudeCapabilities = []claudeCapability{
	{family: "opus", since: 407, thinking: thinkingAdaptive},
}

// claudeThinkingStyle looks a model name up in claudeCapabilities.
func claudeThinkingStyle(model string) thinkingStyle {
	family, version, ok := claudeModelVersion(model)
	if !ok {
		return thinkingBudget
	}
	for _, c := range claudeCapabilities {
		if c.family == family && version >= c.since {
			return c.thinking
		}
	}
	return thinkingBudget
}

// claudeModelVersion reads the family and version of a current-style Claude
// model name, claude-<family>-<major>[-<minor>][-<date>] (claude-opus-4-7,
// claude-sonnet-4-5-20250929, claude-opus-5), also behind a provider prefix
// such as "anthropic/" or "us.anthropic.". Older names (claude-3-7-sonnet-…)
// report false.
func claudeModelVersion(model string) (family string, version int, ok bool) {
	i := strings.Index(model, "claude-")
	if i < 0 {
		return "", 0, false
	}
	parts := strings.Split(model[i+len("claude-"):], "-")
	if len(parts) < 2 {
		return "", 0, false
	}
	family = parts[0]
	major, err := strconv.Atoi(parts[1])
	if err != nil || major > 99 {
		return "", 0, false
	}
	minor := 0
	if len(parts) > 2 {
		// A date (20250929) or a version suffix (v1:0) is not a minor.
		if m, err := strconv.Atoi(parts[2]); err == nil && m < 100 {
			minor = m
		}
	}
	return family, major*100 + minor, true
}
