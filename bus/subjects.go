package bus

import "strings"

// Subject layout. Everything the gateway publishes lives under these prefixes
// so that NATS accounts and permissions can be scoped to the gateway.
const (
	queueSubjectPrefix = "gateway.queue."
	queueStreamPrefix  = "GATEWAY_QUEUE_"
	queueConsumer      = "workers"
	replyPrefix        = "_GW.reply."
	controlPrefix      = "_GW.ctl."
	bodyPrefix         = "_GW.body."
	cancelPrefix       = "_GW.cancel."
	directPrefix       = "_GW.direct."
	presenceSubject    = "_GW.presence"
	presenceProbe      = "_GW.presence.probe"
)

// QueueSubject is the subject requests for the upstream are published on.
func QueueSubject(upstream string) string { return queueSubjectPrefix + token(upstream) }

// QueueStream is the name of the JetStream stream queueing the upstream's requests.
func QueueStream(upstream string) string { return queueStreamPrefix + strings.ToUpper(token(upstream)) }

// DirectSubject is the subject requests for the upstream are offered on
// directly to its workers, bypassing the queue (direct.go).
func DirectSubject(upstream string) string { return directPrefix + token(upstream) }

// token turns a configured name into a safe subject token.
func token(name string) string {
	ok := true
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			ok = false
			break
		}
	}
	if ok && name != "" {
		return name
	}
	b := []byte(name)
	for i := range b {
		if !isTokenByte(b[i]) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// lastToken returns the part of subject after its last dot.
func lastToken(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return subject
}
