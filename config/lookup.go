package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// RedactedValue is what Config.Redacted puts in place of a secret.
const RedactedValue = "[redacted]"

// Upstream returns the upstream with the given name, as a pointer into
// c.Upstreams.
func (c *Config) Upstream(name string) (*Upstream, bool) {
	for i := range c.Upstreams {
		if c.Upstreams[i].Name == name {
			return &c.Upstreams[i], true
		}
	}
	return nil, false
}

// Route returns the route with the given path, as a pointer into c.Routes.
func (c *Config) Route(path string) (*Route, bool) {
	for i := range c.Routes {
		if c.Routes[i].Path == path {
			return &c.Routes[i], true
		}
	}
	return nil, false
}

// EnvPrefix returns the prefix of the environment variables that override
// this upstream, with its trailing underscore: for "openai",
// "GATEWAY_UPSTREAMS_OPENAI_", so the API key is EnvPrefix()+"API_KEY".
// The name is upper-cased and every other character than a letter or digit
// becomes "_".
func (u Upstream) EnvPrefix() string {
	return EnvPrefix + "UPSTREAMS_" + envToken(u.Name) + "_"
}

// Redacted returns a deep copy of c that is safe to log: upstream API keys,
// the bus password and token, and any password inside bus.url are replaced
// with "[redacted]". Empty secrets stay empty, so the copy still shows
// whether one is set.
func (c Config) Redacted() Config {
	out := c
	out.Upstreams = slices.Clone(c.Upstreams)
	for i := range out.Upstreams {
		u := &out.Upstreams[i]
		u.ModelMap = maps.Clone(u.ModelMap)
		redact(&u.APIKey)
		u.APIKeyEnvs = slices.Clone(u.APIKeyEnvs)
		u.Keys = redactKeys(u.Keys)
	}
	out.Routes = slices.Clone(c.Routes)
	for i := range out.Routes {
		out.Routes[i].ModelMap = maps.Clone(out.Routes[i].ModelMap)
	}
	out.Access.Keys = slices.Clone(c.Access.Keys)
	for i := range out.Access.Keys {
		k := &out.Access.Keys[i]
		k.Routes = slices.Clone(k.Routes)
		k.Models = slices.Clone(k.Models)
	}
	redact(&out.Bus.Password)
	redact(&out.Bus.Token)
	if out.Bus.URL != "" {
		parts := strings.Split(out.Bus.URL, ",")
		for i, p := range parts {
			parts[i] = redactURL(strings.TrimSpace(p))
		}
		out.Bus.URL = strings.Join(parts, ",")
	}
	return out
}

func redact(s *string) {
	if *s != "" {
		*s = RedactedValue
	}
}

// redactURL hides the password or token in a URL's user info. Text that
// does not parse as a URL but holds an '@' is hidden whole: it may be a
// credential that broke the parser.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return RedactedValue
		}
		return s
	}
	if u.User == nil {
		return s
	}
	// nats://TOKEN@host: a lone user name is the token.
	info := RedactedValue
	if _, has := u.User.Password(); has {
		info = u.User.Username() + ":" + RedactedValue
	}
	u.User = nil
	prefix := u.Scheme + "://"
	return prefix + info + "@" + strings.TrimPrefix(u.String(), prefix)
}

// MapModel returns the model name to send upstream for a client's model.
// An empty model becomes the route's default_model, else the upstream's.
// The result is then renamed by the route's model_map when it has the name,
// else by the upstream's model_map; a name in neither passes unchanged.
func (r Route) MapModel(u Upstream, model string) string {
	if model == "" {
		model = r.DefaultModel
	}
	if model == "" {
		model = u.DefaultModel
	}
	if to, ok := r.ModelMap[model]; ok {
		return to
	}
	if to, ok := u.ModelMap[model]; ok {
		return to
	}
	return model
}

// MaxTokensDefault returns the max_tokens to send when the client gave none
// (Anthropic requires one): the route's default_max_tokens when set, else
// the upstream's.
func (r Route) MaxTokensDefault(u Upstream) int {
	if r.DefaultMaxTokens > 0 {
		return r.DefaultMaxTokens
	}
	return u.DefaultMaxTokens
}
