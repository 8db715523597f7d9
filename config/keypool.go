package config

import "slices"

// Key policies of an upstream's key pool (Upstream.KeyPolicy).
const (
	// KeyPolicyRotate uses the pool's keys in turn.
	KeyPolicyRotate = "rotate"
	// KeyPolicyHeadroom uses the key with the most requests (then tokens)
	// left according to the provider's rate-limit headers, as last seen.
	KeyPolicyHeadroom = "headroom"
)

// UpstreamKey is one provider key of an upstream's pool. Only Env, the
// variable it came from, may be logged or shown.
type UpstreamKey struct {
	// Env names the environment variable holding the key.
	Env string
	// Value is the key itself; empty when the variable is not set.
	Value string
}

// resolveUpstreamKeys fills each upstream's Keys: the key of
// GATEWAY_UPSTREAMS_<NAME>_API_KEY when set, then one per api_key_envs
// variable. A variable that is not set stays in the list with no value, so
// the worker can say which one is missing; a process that makes no upstream
// calls (an ingress) needs none of them.
func resolveUpstreamKeys(c *Config, lookup LookupFunc) {
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		u.Keys = nil
		if u.APIKey != "" {
			u.Keys = append(u.Keys, UpstreamKey{Env: u.EnvPrefix() + "API_KEY", Value: u.APIKey})
		}
		for _, name := range u.APIKeyEnvs {
			v, _ := lookup(name)
			u.Keys = append(u.Keys, UpstreamKey{Env: name, Value: v})
		}
	}
}

func (v *validator) keyPools() {
	for i, u := range v.c.Upstreams {
		p := indexKey("upstreams", i)
		v.oneOf(p+".key_policy", u.KeyPolicy, KeyPolicyRotate, KeyPolicyHeadroom)
		seen := map[string]int{}
		for j, name := range u.APIKeyEnvs {
			key := indexKey(p+".api_key_envs", j)
			switch {
			case !validEnvName(name):
				v.fail(key, "%q is not an environment variable name", name)
			case name == u.EnvPrefix()+"API_KEY":
				v.fail(key, "%s is read anyway as the upstream's key; list other variables here", name)
			default:
				if k, dup := seen[name]; dup {
					v.fail(key, "%s is already api_key_envs[%d]", name, k)
				}
				seen[name] = j
			}
		}
	}
}

// keyEnvNames lists the variables the upstreams' key pools read.
func (c *Config) keyEnvNames() []string {
	var names []string
	for _, u := range c.Upstreams {
		names = append(names, u.APIKeyEnvs...)
	}
	return names
}

// redactKeys returns a copy of keys with every value replaced.
func redactKeys(keys []UpstreamKey) []UpstreamKey {
	out := slices.Clone(keys)
	for i := range out {
		redact(&out[i].Value)
	}
	return out
}
