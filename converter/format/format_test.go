package format

import "testing"

func TestFormats(t *testing.T) {
	tests := []struct {
		f      Format
		valid  bool
		path   string
		family Family
	}{
		{OpenAIChat, true, "/chat/completions", FamilyOpenAI},
		{OpenAIResponses, true, "/responses", FamilyOpenAI},
		{Anthropic, true, "/messages", FamilyAnthropic},
		{"", false, "", ""},
		{"gemini", false, "", ""},
	}
	for _, tt := range tests {
		if tt.f.Valid() != tt.valid || tt.f.Path() != tt.path || tt.f.Family() != tt.family {
			t.Errorf("%q: valid %v, path %q, family %q; want %v, %q, %q", tt.f, tt.f.Valid(), tt.f.Path(), tt.f.Family(), tt.valid, tt.path, tt.family)
		}
	}
	all := All()
	if len(all) != 3 || all[0] != OpenAIChat || all[1] != OpenAIResponses || all[2] != Anthropic {
		t.Errorf("All() = %v", all)
	}
	all[0] = "changed"
	if All()[0] != OpenAIChat {
		t.Error("All returns a shared slice")
	}
}
