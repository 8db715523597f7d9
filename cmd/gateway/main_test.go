package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/ingress/accesslog"
)

func TestNewAccessLog(t *testing.T) {
	tests := []struct {
		name    string
		logging config.Logging
		prefix  string // of the line written; empty for none
		wantErr bool
	}{
		{"json", config.Logging{Level: "info", Format: "json"}, `{"time":"`, false},
		{"json by default", config.Logging{Level: "debug"}, `{"time":"`, false},
		{"pretty", config.Logging{Level: "info", Format: "pretty"}, "time=", false},
		{"above info", config.Logging{Level: "warn", Format: "json"}, "", false},
		{"bad level", config.Logging{Level: "loud"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newAccessLog(tc.logging, &buf)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			l.LogRequest(&accesslog.Request{RequestID: "req_1", Status: 200})
			// Close writes what the batch holds.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if tc.prefix == "" {
				if got != "" {
					t.Errorf("wrote %q, want nothing", got)
				}
				return
			}
			if !strings.HasPrefix(got, tc.prefix) || !strings.Contains(got, "req_1") || strings.Count(got, "\n") != 1 {
				t.Errorf("wrote %q, want one line starting %q", got, tc.prefix)
			}
		})
	}
}
