package config_test

import (
	"fmt"

	"github.com/aigateway/gateway/config"
)

func ExampleParse() {
	src := `
[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"

[[routes]]
path = "/v1/chat/completions"
input_format = "openai-chat"
upstream = "openai"
`
	env := map[string]string{"GATEWAY_UPSTREAMS_OPENAI_API_KEY": "sk-example", "GATEWAY_SERVER_PORT": "9000"}
	cfg, err := config.Parse("inline.toml", []byte(src), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := cfg.Upstream("openai")
	fmt.Println(cfg.Server.Port, u.Concurrency, u.QueueTimeout)
	fmt.Println(cfg.Redacted().Upstreams[0].APIKey)
	// Output:
	// 9000 64 30s
	// [redacted]
}

func ExampleParse_errors() {
	src := `
[server]
prot = 8080

[[upstreams]]
name = "openai"
url = "https://api.openai.com"
format = "openai-chat"
concurrency = "lots"
`
	_, err := config.Parse("gateway.toml", []byte(src), nil)
	fmt.Println(err)
	// Output:
	// gateway.toml:3: server.prot: unknown key: not a setting here (did you mean "port"?)
	// gateway.toml:9: upstreams[0].concurrency: wrong type: expected an integer, got string "lots"
}

func ExampleRoute_MapModel() {
	up := config.Upstream{DefaultModel: "gpt-4o-mini", ModelMap: map[string]string{"gpt-4": "gpt-4o"}}
	route := config.Route{ModelMap: map[string]string{"fast": "gpt-4o-mini"}}
	for _, model := range []string{"gpt-4", "fast", "", "o3"} {
		fmt.Printf("%q → %q\n", model, route.MapModel(up, model))
	}
	// Output:
	// "gpt-4" → "gpt-4o"
	// "fast" → "gpt-4o-mini"
	// "" → "gpt-4o-mini"
	// "o3" → "o3"
}
