package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
)

// Addr is the address the HTTP server listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Registry exposes the process's metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.registry }

// NATSURL is the embedded server's client URL when it listens on TCP.
func (a *App) NATSURL() string {
	if a.embedded == nil {
		return ""
	}
	return bus.ListenURL(a.embedded)
}
