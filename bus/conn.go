package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/config"
)

// ConnMetrics tracks a connection's state from the gateway's side.
type ConnMetrics struct {
	connected     *prometheus.GaugeVec
	reconnects    *prometheus.CounterVec
	slowConsumers *prometheus.CounterVec
}

// NewConnMetrics registers the NATS connection metrics on reg.
func NewConnMetrics(reg prometheus.Registerer) *ConnMetrics {
	m := &ConnMetrics{
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_nats_connected",
			Help: "1 while the process's NATS connection of this role is connected.",
		}, []string{"role"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_nats_reconnects_total",
			Help: "NATS reconnections of this role's connection.",
		}, []string{"role"}),
		slowConsumers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_nats_slow_consumers_total",
			Help: "Messages dropped because a subscription of this role could not keep up.",
		}, []string{"role"}),
	}
	reg.MustRegister(m.connected, m.reconnects, m.slowConsumers)
	return m
}

// ConnOptions configures Connect.
type ConnOptions struct {
	// Role names the connection in metrics and in NATS monitoring (ingress, worker).
	Role string
	// Server, when set, is the embedded server to connect to in-process.
	Server  *server.Server
	Metrics *ConnMetrics
	Logger  *slog.Logger
}

// Connect opens a NATS connection that retries forever: processes may start
// before NATS does, and must ride out a restart or a fail-over.
func Connect(cfg config.Bus, o ConnOptions) (*nats.Conn, error) {
	logger := o.Logger.With("component", "bus", "role", o.Role)
	if o.Metrics != nil {
		// Export the role's series from the start, at zero, so dashboards
		// and alerts see them before anything goes wrong.
		o.Metrics.reconnects.WithLabelValues(o.Role)
		o.Metrics.slowConsumers.WithLabelValues(o.Role)
		o.Metrics.connected.WithLabelValues(o.Role)
	}
	opts := []nats.Option{
		nats.Name("gateway-" + o.Role),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(10 * time.Second),
		// Reply frames are never worth buffering for long while disconnected:
		// the stall timeout ends the request first.
		nats.ReconnectBufSize(8 << 20),
		nats.ConnectHandler(func(*nats.Conn) {
			logger.Info("connected to NATS")
			o.Metrics.setConnected(o.Role, true)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			o.Metrics.setConnected(o.Role, false)
			if err == nil {
				// No error: the process closed the connection itself, as
				// at shutdown. Nothing for an operator to look at.
				logger.Debug("NATS connection closed")
				return
			}
			logger.Warn("disconnected from NATS", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
			o.Metrics.setConnected(o.Role, true)
			if o.Metrics != nil {
				o.Metrics.reconnects.WithLabelValues(o.Role).Inc()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				if o.Metrics != nil {
					o.Metrics.slowConsumers.WithLabelValues(o.Role).Inc()
				}
				subject := ""
				if sub != nil {
					subject = sub.Subject
				}
				logger.Warn("NATS slow consumer: messages dropped", "subject", subject)
				return
			}
			logger.Warn("NATS error", "err", err)
		}),
	}
	url := cfg.URL
	if o.Server != nil {
		opts = append(opts, nats.InProcessServer(o.Server))
		url = ""
		if cfg.Token != "" {
			opts = append(opts, nats.Token(cfg.Token))
		}
		if cfg.User != "" {
			opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
		}
	} else {
		authOpts, err := authOptions(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, authOpts...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS %s: %w", redactURL(url), err)
	}
	if nc.IsConnected() {
		o.Metrics.setConnected(o.Role, true)
	}
	return nc, nil
}

func (m *ConnMetrics) setConnected(role string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.connected.WithLabelValues(role).Set(v)
}

func authOptions(cfg config.Bus) ([]nats.Option, error) {
	var opts []nats.Option
	if cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCA != "" {
			pem, err := os.ReadFile(cfg.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("bus.tls_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("bus.tls_ca: no certificate in %s", cfg.TLSCA)
			}
			tc.RootCAs = pool
		}
		if cfg.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("bus.tls_cert/tls_key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// redactURL hides credentials embedded in NATS URLs before they are logged.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				parts[i] = u[:scheme+3] + "[redacted]" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}
