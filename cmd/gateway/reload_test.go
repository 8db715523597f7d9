package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/cmd/gateway/internal/app"
	"github.com/aigateway/gateway/config"
)

// TestReloadCommand runs an all-in-one gateway whose embedded NATS listens
// on TCP, and reloads it with gateway reload: a valid file is taken, an
// invalid one refused with its file and line in the answer.
func TestReloadCommand(t *testing.T) {
	listen := "127.0.0.1:" + itoa(freePort(t))
	path := writeConfig(t, "")
	t.Setenv("GATEWAY_BUS_LISTEN", listen)
	load := func() (config.Config, error) { return config.Load(config.LoadOptions{Path: path}) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := app.Start(ctx, cfg, app.Options{Mode: app.ModeAll, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Load: load})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})

	code, stdout, stderr := runCLI(t, "", "reload", "--config", path, "--wait", "1s")
	if code != exitOK || !strings.Contains(stdout, "all process ") || !strings.Contains(stdout, ": reloaded") {
		t.Errorf("reload: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	broken := string(data) + "\n[[routes]]\npath = \"/broken\"\ninput_format = \"openai-chat\"\nupstream = \"nowhere\"\n"
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(broken[:strings.Index(broken, `upstream = "nowhere"`)], "\n") + 1
	// The command loads the file too, to find the bus: an invalid one stops
	// it before it asks anything, with the same message.
	code, _, stderr = runCLI(t, "", "reload", "--config", path, "--wait", "1s")
	if code != exitError || !strings.Contains(stderr, path+":"+itoa(line)+": routes[1].upstream") {
		t.Errorf("reload of an invalid file: exit %d\nstderr: %s", code, stderr)
	}
}

func TestReloadCommandNeedsABus(t *testing.T) {
	path := writeConfig(t, "")
	code, _, stderr := runCLI(t, "", "reload", "--config", path)
	if code != exitError || !strings.Contains(stderr, "bus.listen is empty") || !strings.Contains(stderr, "--pid") {
		t.Errorf("exit %d\nstderr: %s", code, stderr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
