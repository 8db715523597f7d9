package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/cmd/mockupstream/mock"
)

// reloadRoute is a route a reload adds: to the openai upstream, so that its
// worker pool is rebuilt too, and to a new upstream.
func reloadRoutes(url string) string {
	return fmt.Sprintf(`
[[routes]]
path = "/v2/chat/completions"
input_format = "openai-chat"
upstream = "openai"

[[upstreams]]
name = "added"
url = %q
format = "openai-chat"

[[routes]]
path = "/added/v1/chat/completions"
input_format = "openai-chat"
upstream = "added"
`, url)
}

// rewrite replaces the configuration file of a gateway started with
// launchOptions.configFile: the same base, a new extra.
func rewrite(t *testing.T, path string, o launchOptions, extra string) {
	t.Helper()
	text := fmt.Sprintf(baseTOML, o.storeDir, o.openaiURL, o.anthropicURL) + extra
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func chatStatus(g *gateway, path string) (int, string) {
	resp, body := g.post(path, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	return resp.StatusCode, string(body)
}

// TestReloadDuringOpenStreams reloads while 50 streams are open: each of
// them runs to its end on its old settings (the worker pool that serves
// them is replaced meanwhile), the routes of the new configuration work at
// once, and the old ones still do.
func TestReloadDuringOpenStreams(t *testing.T) {
	const streams = 50
	m := startMock(t, mock.Config{Chunks: 20, ChunkGap: 50 * time.Millisecond})
	o := launchOptions{mode: ModeAll, openaiURL: m.URL(), anthropicURL: m.URL(), storeDir: t.TempDir(),
		configFile: filepath.Join(t.TempDir(), "gateway.toml"),
		env:        map[string]string{"GATEWAY_UPSTREAMS_OPENAI_CONCURRENCY": "64"}}
	g := launch(t, o)
	if code, body := chatStatus(g, "/added/v1/chat/completions"); code != http.StatusNotFound {
		t.Fatalf("route before the reload: %d %s", code, body)
	}

	var started, done sync.WaitGroup
	started.Add(streams)
	errs := make(chan error, streams)
	for i := range streams {
		done.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			text := fmt.Sprint("stream ", i)
			stream := g.openAI("").Chat.Completions.NewStreaming(ctx, chatParams(text))
			var acc openai.ChatCompletionAccumulator
			first := true
			for stream.Next() {
				acc.AddChunk(stream.Current())
				if first {
					first = false
					started.Done()
				}
			}
			if first {
				started.Done()
			}
			if err := stream.Err(); err != nil {
				errs <- fmt.Errorf("%s: %w", text, err)
				return
			}
			if len(acc.Choices) == 0 || acc.Choices[0].FinishReason != "stop" || !strings.Contains(acc.Choices[0].Message.Content, text) {
				errs <- fmt.Errorf("%s: incomplete answer %+v", text, acc.Choices)
			}
		})
	}
	started.Wait()
	if active := m.Stats().Active; active < streams/2 {
		t.Logf("only %d streams still open at the reload", active)
	}
	rewrite(t, o.configFile, o, reloadRoutes(m.URL()))
	if err := g.app.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/added/v1/chat/completions", "/v2/chat/completions", "/v1/chat/completions"} {
		if code, body := chatStatus(g, path); code != http.StatusOK {
			t.Errorf("%s after the reload: %d %s", path, code, body)
		}
	}
	done.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !strings.Contains(g.logs.String(), `"msg":"configuration reloaded"`) {
		t.Error("no log line says the configuration was reloaded")
	}
}

// TestReloadRefusesAnInvalidFile keeps the running configuration when the
// new file does not load, and logs the problems with file and line.
func TestReloadRefusesAnInvalidFile(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())
	o := launchOptions{mode: ModeAll, openaiURL: m.URL(), anthropicURL: m.URL(), storeDir: t.TempDir(),
		configFile: filepath.Join(t.TempDir(), "gateway.toml")}
	g := launch(t, o)
	rewrite(t, o.configFile, o, reloadRoutes(m.URL())+"\n[[routes]]\npath = \"/broken\"\ninput_format = \"openai-chat\"\nupstream = \"nowhere\"\n")
	err := g.app.Reload(context.Background())
	if err == nil {
		t.Fatal("an invalid configuration was taken")
	}
	line := regexp.MustCompile(regexp.QuoteMeta(o.configFile) + `:\d+: routes\[\d+\]\.upstream: invalid value: no upstream is named \\"nowhere\\"`)
	if !line.MatchString(g.logs.String()) {
		t.Errorf("the log does not show the problem with its file and line:\n%s", tail(g.logs.String(), 5))
	}
	if code, body := chatStatus(g, "/added/v1/chat/completions"); code != http.StatusNotFound {
		t.Errorf("a route of the refused file is served: %d %s", code, body)
	}
	if code, body := chatStatus(g, "/v1/chat/completions"); code != http.StatusOK {
		t.Errorf("the running configuration's route after a refused reload: %d %s", code, body)
	}
	// Fixed, it loads.
	rewrite(t, o.configFile, o, reloadRoutes(m.URL()))
	if err := g.app.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := chatStatus(g, "/added/v1/chat/completions"); code != http.StatusOK {
		t.Errorf("new route after the fixed reload: %d %s", code, body)
	}
}

// TestReloadInSplitMode runs an all-in-one hub, an ingress and a worker
// process, each with a configuration file of its own. A reload asked over
// the bus (what gateway reload does) reaches all three; the new upstream's
// route then works through the ingress process, served by either worker.
func TestReloadInSplitMode(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())
	dir := t.TempDir()
	hubOpts := launchOptions{mode: ModeAll, openaiURL: m.URL(), anthropicURL: m.URL(), storeDir: t.TempDir(),
		configFile: filepath.Join(dir, "hub.toml"), env: map[string]string{"GATEWAY_BUS_LISTEN": "127.0.0.1:0"},
		tolerateShutdownErrors: true}
	hub := launch(t, hubOpts)
	split := map[string]string{"GATEWAY_BUS_MODE": "external", "GATEWAY_BUS_URL": hub.app.NATSURL()}
	procs := map[string]launchOptions{}
	var edge *gateway
	for _, mode := range []Mode{ModeWorker, ModeIngress} {
		o := launchOptions{mode: mode, openaiURL: m.URL(), anthropicURL: m.URL(), storeDir: t.TempDir(),
			configFile: filepath.Join(dir, string(mode)+".toml"), env: split, tolerateShutdownErrors: true}
		p := launch(t, o)
		procs[string(mode)] = o
		if mode == ModeIngress {
			edge = p
		}
	}
	rewrite(t, hubOpts.configFile, hubOpts, reloadRoutes(m.URL()))
	for _, o := range procs {
		rewrite(t, o.configFile, o, reloadRoutes(m.URL()))
	}

	nc, err := bus.ConnectOnce(hub.app.cfg.Bus, hub.app.NATSURL(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	replies, err := bus.RequestReload(context.Background(), nc, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, r := range replies {
		if !r.OK {
			t.Errorf("%s %s refused: %s", r.Role, r.Process, r.Error)
		}
		roles[r.Role] = true
	}
	if len(replies) != 3 || !roles["all"] || !roles["ingress"] || !roles["worker"] {
		t.Fatalf("reload answers: %+v", replies)
	}
	if code, body := chatStatus(edge, "/added/v1/chat/completions"); code != http.StatusOK {
		t.Errorf("new route through the ingress process: %d %s", code, body)
	}
}

// accessReloadTOML has team-a, and after the reload team-b as well, with
// team-a's routes narrowed to the Anthropic route.
const accessReloadTOML = `
[access]
enabled = true

[[access.keys]]
name = "team-a"
key_env = "TEAM_A_KEY"
`

// TestReloadChangesAccessKeys adds a key and narrows another's allow-list
// by reloading: both hold for the next requests.
func TestReloadChangesAccessKeys(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())
	o := launchOptions{mode: ModeAll, openaiURL: m.URL(), anthropicURL: m.URL(), storeDir: t.TempDir(),
		configFile: filepath.Join(t.TempDir(), "gateway.toml"), extra: accessReloadTOML,
		env: map[string]string{"TEAM_A_KEY": "sk-team-a", "TEAM_B_KEY": "sk-team-b"}}
	g := launch(t, o)
	call := func(key string) int {
		resp, _ := g.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer "+key)
		return resp.StatusCode
	}
	if a, b := call("sk-team-a"), call("sk-team-b"); a != http.StatusOK || b != http.StatusUnauthorized {
		t.Fatalf("before the reload: team-a %d, team-b %d", a, b)
	}
	rewrite(t, o.configFile, o, accessReloadTOML+`routes = ["/v1/messages"]

[[access.keys]]
name = "team-b"
key_env = "TEAM_B_KEY"
`)
	if err := g.app.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := call("sk-team-a"), call("sk-team-b"); a != http.StatusForbidden || b != http.StatusOK {
		t.Errorf("after the reload: team-a %d (want 403, route no longer allowed), team-b %d (want 200)", a, b)
	}
}

// routedModels is a model-routed route serving one model, for a reload to
// change.
func routedModels(model string) string {
	return fmt.Sprintf(`
[[routes]]
path = "/routed/v1/chat/completions"
input_format = "openai-chat"

[[models]]
name = %q

[[models.targets]]
upstream = "openai"
model = "gpt-4o"
`, model)
}

// TestReloadChangesModelRouting reloads a configuration whose models
// changed: the routing table is rebuilt with the routes, so the new model is
// served at once and the removed one is not found any more.
func TestReloadChangesModelRouting(t *testing.T) {
	m := startMock(t, mock.DefaultConfig())
	o := launchOptions{mode: ModeAll, openaiURL: m.URL(), anthropicURL: m.URL(), storeDir: t.TempDir(),
		configFile: filepath.Join(t.TempDir(), "gateway.toml"), extra: routedModels("first-model")}
	g := launch(t, o)
	status := func(model string) (int, string) {
		resp, body := g.post("/routed/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		return resp.StatusCode, string(body)
	}
	if code, body := status("first-model"); code != http.StatusOK {
		t.Fatalf("configured model before the reload: %d %s", code, body)
	}
	if code, body := status("second-model"); code != http.StatusNotFound {
		t.Fatalf("unconfigured model before the reload: %d %s", code, body)
	}
	rewrite(t, o.configFile, o, routedModels("second-model"))
	if err := g.app.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := status("second-model"); code != http.StatusOK {
		t.Errorf("model added by the reload: %d %s", code, body)
	}
	if code, body := status("first-model"); code != http.StatusNotFound {
		t.Errorf("model removed by the reload: %d %s", code, body)
	}
}
