package ingress

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/aigateway/gateway/converter"
	"github.com/aigateway/gateway/converter/format"
)

// OpsServer serves /health and /metrics for a process that runs no ingress,
// a worker-only process, so it can be probed and scraped like the others.
type OpsServer struct {
	http *fasthttp.Server
}

// NewOpsServer returns the health and metrics server of a worker process.
// checks lists the process's own checks besides its bus connection (its
// pools' queues); it may be nil.
func NewOpsServer(nc *nats.Conn, gatherer prometheus.Gatherer, version string, logger *slog.Logger, checks CheckSource) *OpsServer {
	started := time.Now()
	metricsHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	handler := func(ctx *fasthttp.RequestCtx) {
		switch path := string(ctx.Path()); {
		case path == pathMetrics:
			metricsHandler(ctx)
		case isHealthPath(path):
			h := health{
				Version:       version,
				UptimeSeconds: int64(time.Since(started).Seconds()),
				Bus:           busHealth{Connected: nc.IsConnected(), Status: nc.Status().String()},
				Checks:        []Check{busCheck(nc)},
			}
			if checks != nil {
				h.Checks = append(h.Checks, checks()...)
			}
			writeHealth(ctx, path, h, false)
		default:
			writeError(ctx, format.OpenAIChat, converter.Errorf(converter.KindNotFound,
				"this is a worker process; it serves only /health, /health/live, /health/ready and /metrics"), "")
		}
	}
	return &OpsServer{http: &fasthttp.Server{
		Handler:               handler,
		Name:                  "gateway-worker",
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		Logger:                fasthttpLogger{logger},
	}}
}

// Serve serves on ln until Shutdown.
func (o *OpsServer) Serve(ln net.Listener) error { return o.http.Serve(ln) }

// Shutdown stops the server.
func (o *OpsServer) Shutdown(ctx context.Context) error { return o.http.ShutdownWithContext(ctx) }
