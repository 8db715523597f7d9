// Package bus owns everything NATS: the embedded server, connections, subject
// names, the request envelope, the per-upstream work queues (JetStream), the
// reply-frame protocol with credit-based flow control, and worker presence.
//
// A request travels as one envelope on its upstream's work queue. The worker
// that takes it answers on the request's reply subject with frames: accept,
// head, data..., end (or error). The ingress grants the worker a window of
// bytes and renews it as it writes to the client, so memory per stream stays
// bounded however slow the client is.
package bus
