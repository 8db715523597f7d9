package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/cmd/loadgen/internal/load"
	"github.com/aigateway/gateway/cmd/mockupstream/mock"
	"github.com/aigateway/gateway/converter/jsonx"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's idle-connection cleaner ends by itself once it wakes.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
	)
}

func startMock(t *testing.T) *mock.Server {
	t.Helper()
	cfg := mock.DefaultConfig()
	cfg.APIKey = "sk-test"
	srv := mock.New(cfg)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start mock: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// runCLI runs the command with args and returns its standard output.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run %q: %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.String()
}

var short = []string{"-duration", "200ms", "-warmup", "50ms", "-c", "2"}

func TestJSONToStdout(t *testing.T) {
	srv := startMock(t)
	out := runCLI(t, append(short, "-url", srv.URL(), "-shape", "anthropic", "-stream",
		"-header", "x-api-key: sk-test", "-json", "-")...)
	var rep load.Report
	if err := jsonx.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, out)
	}
	if rep.OK == 0 || rep.OK != rep.Requests || rep.Shape != load.ShapeAnthropic || !rep.Stream || rep.Events == nil {
		t.Errorf("report %+v", rep)
	}
}

func TestTableAndJSONFileWithCustomBody(t *testing.T) {
	srv := startMock(t)
	dir := t.TempDir()
	body := filepath.Join(dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"ping"}],"max_tokens":5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonFile := filepath.Join(dir, "out.json")
	out := runCLI(t, append(short, "-url", srv.URL(), "-body", body, "-client", "nethttp",
		"-header", "Authorization: Bearer sk-test", "-json", jsonFile)...)
	if !strings.Contains(out, "latency ms") || !strings.Contains(out, "nethttp client") {
		t.Errorf("table missing parts:\n%s", out)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep load.Report
	if err := jsonx.Unmarshal(b, &rep); err != nil {
		t.Fatalf("json file: %v", err)
	}
	if rep.OK == 0 || rep.OK != rep.Requests {
		t.Errorf("ok %d of %d: %+v", rep.OK, rep.Requests, rep)
	}
	// The mock recorded the custom body as sent.
	reqs := srv.Requests()
	if len(reqs) == 0 || !bytes.Contains(reqs[len(reqs)-1].Body, []byte(`"content":"ping"`)) {
		t.Errorf("custom body not sent")
	}
}

func TestABRounds(t *testing.T) {
	gw, up := startMock(t), startMock(t)
	out := runCLI(t, append(short, "-url", gw.URL(), "-direct", up.URL(), "-rounds", "1",
		"-header", "Authorization: Bearer sk-test", "-json", "-")...)
	var ab load.ABReport
	if err := jsonx.Unmarshal([]byte(out), &ab); err != nil {
		t.Fatalf("stdout is not an A/B report: %v\n%s", err, out)
	}
	if len(ab.Rounds) != 2 || ab.Target.OK == 0 || ab.Direct.OK == 0 || ab.Comparison.RPSRatio <= 0 {
		t.Errorf("a/b report %+v", ab)
	}
}

func TestBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"-nope"}},
		{"bad header", []string{"-header", "novalue"}},
		{"bad shape", []string{"-shape", "gemini"}},
		{"missing body file", []string{"-body", "/does/not/exist"}},
		{"stray argument", []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(tt.args, &stdout, &stderr); err == nil {
				t.Errorf("run %q: no error", tt.args)
			}
			if stdout.Len() > 0 {
				t.Errorf("run %q wrote a report: %s", tt.args, stdout.String())
			}
		})
	}
}
