package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
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
	writeFailed := make(chan struct{}, 1)
	srv.SetLoggerV2(&natsLogger{logger: logger.With("component", "nats"), writeFailed: writeFailed}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS server not ready after 10s")
	}
	if cfg.StoreDir != "" {
		go recoverStore(srv, cfg.StoreDir, writeFailed, logger.With("component", "bus"))
	}
	return srv, nil
}

// storeProbeSize is what the store directory must take before JetStream is
// restarted on it: a little more than a message block's first write.
const storeProbeSize = 256 << 10

// storeProbeInterval is how often a store that failed is probed.
const storeProbeInterval = 500 * time.Millisecond

// recoverStore restarts JetStream once its store takes writes again after
// a write failed, until the server shuts down. A JetStream file store that
// fails to write (a full disk) keeps the error for good and no longer
// answers publishes, so the access counters would stay unusable after the
// disk is freed until the process restarted. Restarting JetStream reopens
// every stream from disk without the error; the memory queues lost with it
// are recreated by the processes' Keepers.
func recoverStore(srv *server.Server, dir string, writeFailed <-chan struct{}, logger *slog.Logger) {
	stopped := make(chan struct{})
	go func() {
		srv.WaitForShutdown()
		close(stopped)
	}()
	for {
		select {
		case <-stopped:
			return
		case <-writeFailed:
		}
		logger.Error("JetStream cannot write to its store; it will be restarted once the store takes writes again", "store_dir", dir)
		probe := time.NewTicker(storeProbeInterval)
	wait:
		for {
			select {
			case <-stopped:
				probe.Stop()
				return
			case <-probe.C:
				if err := probeStore(dir); err == nil {
					break wait
				}
			}
		}
		probe.Stop()
		// Failures logged by the streams while JetStream shuts down belong
		// to the failure being handled.
		cfg := srv.JetStreamConfig()
		if err := srv.ShutdownJetStream(); err != nil {
			logger.Error("stopping JetStream to recover its store failed", "err", err)
			continue
		}
		drain(writeFailed)
		if cfg == nil {
			cfg = &server.JetStreamConfig{StoreDir: dir}
		}
		if err := srv.EnableJetStream(cfg); err != nil {
			logger.Error("restarting JetStream on its store failed", "err", err)
			continue
		}
		logger.Warn("JetStream restarted: its store takes writes again", "store_dir", dir)
	}
}

// probeStore writes, syncs and removes a file of storeProbeSize in dir.
func probeStore(dir string) error {
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, storeProbeSize))
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
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
// mostly start-up chatter, so they go to Debug. It signals writeFailed when
// the server reports that a store stopped taking writes: the log is the only
// place the server says so.
type natsLogger struct {
	logger      *slog.Logger
	writeFailed chan<- struct{}
}

func (l *natsLogger) Noticef(format string, v ...any) { l.logger.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.logger.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.logger.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "critical write error") {
		select {
		case l.writeFailed <- struct{}{}:
		default:
		}
	}
	l.logger.Error(msg)
}
func (l *natsLogger) Debugf(format string, v ...any) { l.logger.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any) {}

// ListenURL returns the client URL of a server that listens on TCP, or "".
func ListenURL(srv *server.Server) string {
	if addr := srv.Addr(); addr != nil {
		return "nats://" + addr.String()
	}
	return ""
}
