package bus

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aigateway/gateway/config"
)

// StartEmbedded starts the in-process NATS server used in single-process mode,
// with JetStream on. It listens on TCP only when cfg.Listen is set, so that
// extra worker processes can join; otherwise connections are in-process.
func StartEmbedded(cfg config.Bus, logger *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "gateway",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: int32(cfg.MaxPayload),
		NoSigs:     true,
		// The ingress connection carries every stream; a short write deadline
		// would cut them all when one burst is slow to drain.
		WriteDeadline: 30 * time.Second,
	}
	if int64(cfg.MaxPayload) > opts.MaxPending || opts.MaxPending == 0 {
		opts.MaxPending = max(int64(cfg.MaxPayload)*2, 64<<20)
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus.listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.Monitor != "" {
		host, port, err := splitHostPort(cfg.Monitor)
		if err != nil {
			return nil, fmt.Errorf("bus.monitor: %w", err)
		}
		opts.HTTPHost, opts.HTTPPort = host, port
	}
	if cfg.Token != "" {
		opts.Authorization = cfg.Token
	}
	if cfg.User != "" {
		opts.Username, opts.Password = cfg.User, cfg.Password
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("creating embedded NATS server: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{logger: logger.With("component", "nats")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS server not ready after 10s")
	}
	return srv, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// natsLogger forwards the embedded server's log to slog. Its notices are
// mostly start-up chatter, so they go to Debug.
type natsLogger struct{ logger *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.logger.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.logger.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.logger.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.logger.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.logger.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  {}

// ListenURL returns the client URL of a server that listens on TCP, or "".
func ListenURL(srv *server.Server) string {
	if addr := srv.Addr(); addr != nil {
		return "nats://" + addr.String()
	}
	return ""
}
