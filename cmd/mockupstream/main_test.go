package main

import (
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantAddr string
		check    func(t *testing.T, chunks int, gap time.Duration, strict bool, status int)
		wantErr  bool
	}{
		{
			name:     "defaults",
			wantAddr: "127.0.0.1:9090",
			check: func(t *testing.T, chunks int, gap time.Duration, strict bool, status int) {
				if chunks != 10 || gap != 0 || !strict || status != 0 {
					t.Errorf("chunks %d gap %v strict %v status %d", chunks, gap, strict, status)
				}
			},
		},
		{
			name:     "benchmark setup",
			args:     []string{"-addr", "127.0.0.1:0", "-chunks", "22", "-gap", "5ms", "-strict=false", "-error-status", "529"},
			wantAddr: "127.0.0.1:0",
			check: func(t *testing.T, chunks int, gap time.Duration, strict bool, status int) {
				if chunks != 22 || gap != 5*time.Millisecond || strict || status != 529 {
					t.Errorf("chunks %d gap %v strict %v status %d", chunks, gap, strict, status)
				}
			},
		},
		{name: "invalid status", args: []string{"-error-status", "200"}, wantErr: true},
		{name: "negative gap", args: []string{"-gap", "-1s"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, cfg, err := parseFlags(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if addr != tt.wantAddr {
				t.Errorf("addr = %q, want %q", addr, tt.wantAddr)
			}
			tt.check(t, cfg.Chunks, cfg.ChunkGap, cfg.Strict, cfg.ErrorStatus)
		})
	}
}
