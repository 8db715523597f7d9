package mock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody bounds a request body; Anthropic's own limit is 32 MB.
const maxBody = 32 << 20

// maxRecorded is how many requests Requests keeps.
const maxRecorded = 256

// Errors returned by the server's lifecycle methods.
var (
	// ErrStarted is returned by Start when the server is already listening.
	ErrStarted = errors.New("mock: server already started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("mock: server closed")
)

// Recorded is one request the server received.
type Recorded struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body as received.
	Body []byte
}

// Stats counts the server's requests.
type Stats struct {
	// Requests is the number of API requests received (health checks
	// excluded).
	Requests int64
	// Active is the number of requests being handled right now.
	Active int64
	// ClientGone is the number of requests whose client went away before
	// the answer was complete.
	ClientGone int64
}

// Server is the mock upstream. Create it with New, then either Start it on
// an address or mount Handler in a server of your own.
type Server struct {
	cfg     atomic.Pointer[Config]
	cfgErr  error // the verdict of Validate on the Config given to New
	handler http.Handler
	// now is the clock; tests replace it for reproducible output.
	now func() time.Time

	seq        atomic.Uint64
	requests   atomic.Int64
	active     atomic.Int64
	clientGone atomic.Int64

	recMu   sync.Mutex
	rec     []Recorded // ring buffer, oldest at recNext once full
	recNext int
	// keyUse counts the API requests by the credential they carried.
	keyUse map[string]int64

	// mu guards the lifecycle fields below. Handlers join inflight under
	// mu so that Close, which sets closing under mu, waits for all of them.
	mu       sync.Mutex
	inflight sync.WaitGroup
	closing  bool
	srv      *http.Server
	ln       net.Listener
	served   chan struct{}
	cancel   context.CancelFunc
}

// New returns a server with the given behaviour, not yet listening.
func New(cfg Config) *Server {
	s := &Server{now: time.Now, cfgErr: cfg.Validate()}
	s.SetConfig(cfg)
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

// SetConfig changes the behaviour for the requests that arrive from now on.
// Invalid values are clamped (see Config.Validate).
func (s *Server) SetConfig(cfg Config) {
	cfg = cfg.withDefaults()
	s.cfg.Store(&cfg)
}

// Handler returns the HTTP handler serving both APIs, for use in a server of
// the caller's own (such as httptest.NewServer).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves in the
// background until Close. It fails if the Config given to New is invalid.
func (s *Server) Start(addr string) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return ErrClosed
	case s.srv != nil:
		return ErrStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mock: listen on %s: %w", addr, err)
	}
	base, cancel := context.WithCancel(context.Background())
	s.ln, s.cancel = ln, cancel
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Close cancels every request's context, which releases hanging
		// and sleeping handlers at once.
		BaseContext: func(net.Listener) context.Context { return base },
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return nil
}

// URL returns the base URL, "http://127.0.0.1:PORT", or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops the server: it closes the listener and all connections,
// cancels the requests in flight and waits for their handlers to return.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	srv, cancel, served := s.srv, s.cancel, s.served
	s.mu.Unlock()
	var err error
	if srv != nil {
		// Connections first, so that no handler released by cancel can
		// still send an answer.
		if cerr := srv.Close(); cerr != nil {
			err = fmt.Errorf("mock: close: %w", cerr)
		}
		cancel()
		<-served
	}
	s.inflight.Wait()
	return err
}

// Requests returns the last requests received, oldest first.
func (s *Server) Requests() []Recorded {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([]Recorded, 0, len(s.rec))
	if len(s.rec) == maxRecorded {
		out = append(out, s.rec[s.recNext:]...)
		return append(out, s.rec[:s.recNext]...)
	}
	return append(out, s.rec...)
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:   s.requests.Load(),
		Active:     s.active.Load(),
		ClientGone: s.clientGone.Load(),
	}
}

func (s *Server) record(r *http.Request, body []byte) {
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	key := r.Header.Get("x-api-key")
	if key == "" {
		key, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if s.keyUse == nil {
		s.keyUse = make(map[string]int64)
	}
	s.keyUse[key]++
	if len(s.rec) < maxRecorded {
		s.rec = append(s.rec, rec)
		return
	}
	s.rec[s.recNext] = rec
	s.recNext = (s.recNext + 1) % maxRecorded
}

// enter registers a handler with Close; false once the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inflight.Add(1)
	s.active.Add(1)
	return true
}

func (s *Server) leave() {
	s.active.Add(-1)
	s.inflight.Done()
}

var (
	// errClientGone reports that the client went away mid-answer.
	errClientGone = errors.New("client gone")
	// errCut reports that DisconnectAfter was reached.
	errCut = errors.New("disconnect injected")
)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "server closing", http.StatusServiceUnavailable)
		return
	}
	defer s.leave()

	var p provider
	switch r.URL.Path {
	case "/health":
		w.Header()["Content-Type"] = hvJSON
		_, _ = io.WriteString(w, `{"status":"ok"}`)
		return
	case "/v1/chat/completions":
		p = provOpenAI
	case "/v1/messages":
		p = provAnthropic
	case pathResponses:
		p = provResponses
	default:
		p = guessProvider(r)
	}
	s.requests.Add(1)
	seq := s.seq.Add(1)
	err := s.serveAPI(w, r, p, seq)
	switch {
	case errors.Is(err, errClientGone):
		s.clientGone.Add(1)
		// Whatever has not been sent must not be sent now: returning
		// normally would make net/http complete the response (an empty
		// 200 when nothing was written yet) on a connection that may
		// still be open, such as when Close cancelled the request.
		panic(http.ErrAbortHandler)
	case errors.Is(err, errCut):
		// Closing the connection without the chunked-encoding terminator
		// is what a provider dying mid-answer looks like to the client.
		// net/http recognises this panic value and logs nothing.
		panic(http.ErrAbortHandler)
	}
}

// guessProvider picks the error dialect for a request to an unknown path.
func guessProvider(r *http.Request) provider {
	if strings.HasPrefix(r.URL.Path, "/v1/messages") || r.Header.Get("anthropic-version") != "" || r.Header.Get("x-api-key") != "" {
		return provAnthropic
	}
	return provOpenAI
}

// serveAPI answers one API request. The error is errClientGone, errCut or
// nil: everything else has already been answered to the client.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, p provider, seq uint64) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	s.record(r, body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return s.writeError(w, p, seq, len(body), statusError(p, http.StatusRequestEntityTooLarge))
		}
		return errClientGone
	}
	if isEndpointPath(r.URL.Path) {
		return s.serveEndpoint(w, r, p, seq, body)
	}
	known := r.URL.Path == "/v1/chat/completions" || r.URL.Path == "/v1/messages" || r.URL.Path == pathResponses
	if !known || r.Method != http.MethodPost {
		e := statusError(p, http.StatusNotFound)
		if p == provAnthropic {
			e.msg = "Not found"
		} else {
			e.msg, e.code = "Invalid URL ("+r.Method+" "+r.URL.Path+")", ""
		}
		return s.writeError(w, p, seq, len(body), e)
	}

	cfg, err := applyOverrides(*s.cfg.Load(), r.Header)
	if err != nil {
		return s.writeError(w, p, seq, len(body), invalid(err.Error()))
	}
	ctx := r.Context()
	if cfg.Latency > 0 {
		if err := sleep(ctx, cfg.Latency); err != nil {
			return err
		}
	}
	if cfg.Hang {
		<-ctx.Done()
		return errClientGone
	}
	if cfg.ErrorStatus != 0 {
		e := statusError(p, cfg.ErrorStatus)
		e.retryAfter = cfg.RetryAfter
		return s.writeError(w, p, seq, len(body), e)
	}
	if cfg.APIKey != "" && !authorized(r, p, cfg.APIKey) {
		return s.writeError(w, p, seq, len(body), statusError(p, http.StatusUnauthorized))
	}
	key := credential(r, p)
	for _, revoked := range cfg.RevokedKeys {
		if key == revoked {
			return s.writeError(w, p, seq, len(body), statusError(p, http.StatusUnauthorized))
		}
	}
	if cfg.ReplayFile != "" {
		return s.replay(w, r, p, seq, &cfg)
	}

	var pr prompt
	var rs *rsRequest
	switch p {
	case provResponses:
		req, err := decodeResponses(body)
		if err != nil {
			return s.writeError(w, p, seq, len(body), invalid("We could not parse the JSON body of your request. The OpenAI API expects a JSON payload: "+err.Error()))
		}
		if cfg.Strict {
			if e := validateResponses(req); e != nil {
				return s.writeError(w, p, seq, len(body), e)
			}
		}
		rs, pr = req, responsesPrompt(req, body)
	case provAnthropic:
		if cfg.Strict && r.Header.Get("anthropic-version") == "" {
			return s.writeError(w, p, seq, len(body), invalid("anthropic-version: header is required"))
		}
		req, err := decodeAnthropic(body)
		if err != nil {
			return s.writeError(w, p, seq, len(body), invalid("There was an error parsing the body of your request: "+err.Error()))
		}
		req.midConversationSystem = strings.Contains(r.Header.Get("anthropic-beta"), midConversationSystemBeta)
		if cfg.Strict {
			if e := validateAnthropic(req); e != nil {
				return s.writeError(w, p, seq, len(body), e)
			}
		}
		pr = anthropicPrompt(req, body)
	default:
		req, err := decodeOpenAI(body)
		if err != nil {
			return s.writeError(w, p, seq, len(body), invalid("We could not parse the JSON body of your request. The OpenAI API expects a JSON payload: "+err.Error()))
		}
		if cfg.Strict {
			if e := validateOpenAI(req); e != nil {
				return s.writeError(w, p, seq, len(body), e)
			}
		}
		pr = openAIPrompt(req, body)
	}

	if cfg.ScriptFile != "" {
		script, err := loadScript(cfg.ScriptFile)
		if err != nil {
			e := statusError(p, http.StatusInternalServerError)
			e.msg = err.Error()
			return s.writeError(w, p, seq, len(body), e)
		}
		pr.script = script.match(&pr)
	}
	prefix := "call_"
	if p == provAnthropic {
		prefix = "toolu_"
	}
	a := buildAnswer(&pr, cfg.Chunks, seq, prefix)
	now := s.now()
	failWith := r.Header.Get(HeaderStreamError)
	if failWith == "" {
		failWith = cfg.StreamError
	}
	if p == provResponses && failWith != "" && (!pr.stream || failWith != "failed" && failWith != "error") {
		return s.writeError(w, p, seq, len(body), statusError(p, http.StatusInternalServerError))
	}
	h := w.Header()
	setProviderHeaders(h, p, seq, a.inputTokens+a.outputTokens, now, http.StatusOK)
	if limit, ok := cfg.KeyRequestLimits[key]; ok {
		remaining := []string{strconv.FormatInt(max(int64(limit)-s.KeyUse()[key], 0), 10)}
		if p == provAnthropic {
			h["Anthropic-Ratelimit-Requests-Remaining"] = remaining
		} else {
			h["X-Ratelimit-Remaining-Requests"] = remaining
		}
	}
	if !pr.stream {
		var b []byte
		switch p {
		case provResponses:
			b = appendResponsesJSON(make([]byte, 0, 2048), &rsAnswer{answer: &a, req: rs, created: now.Unix()})
		case provAnthropic:
			b = appendAnthropicJSON(make([]byte, 0, 1024), &a)
		default:
			b = appendOpenAIJSON(make([]byte, 0, 1024), &a, now.Unix())
		}
		return writeBody(w, http.StatusOK, hvJSON, b, cfg.DisconnectAfter > 0)
	}
	h["Content-Type"] = hvEventStream
	h["Cache-Control"] = hvNoCache
	w.WriteHeader(http.StatusOK)
	ew := newEventWriter(w, ctx, cfg.ChunkGap, cfg.DisconnectAfter)
	defer ew.stop()
	if err := ew.flush(); err != nil {
		return err
	}
	if cfg.Stall > 0 {
		// The headers are out; the first event is late.
		if err := sleep(ctx, cfg.Stall); err != nil {
			return err
		}
	}
	switch p {
	case provResponses:
		return streamResponses(ew, &rsAnswer{answer: &a, req: rs, created: now.Unix()}, failWith)
	case provAnthropic:
		return streamAnthropic(ew, &a)
	}
	return streamOpenAI(ew, &a, now.Unix(), pr.includeUsage)
}

// credential returns the key a request carries in its provider's header.
func credential(r *http.Request, p provider) string {
	if p == provAnthropic {
		return r.Header.Get("x-api-key")
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return token
}

// KeyUse returns how many API requests arrived with each credential (the
// Authorization bearer token or x-api-key), "" counting those with none.
func (s *Server) KeyUse() map[string]int64 {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make(map[string]int64, len(s.keyUse))
	for k, n := range s.keyUse {
		out[k] = n
	}
	return out
}

// authorized checks the provider's credential header against key.
func authorized(r *http.Request, p provider, key string) bool {
	if p == provAnthropic {
		return r.Header.Get("x-api-key") == key
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token == key
}

// writeError answers with e in the provider's shape.
func (s *Server) writeError(w http.ResponseWriter, p provider, seq uint64, bodyLen int, e *apiError) error {
	h := w.Header()
	setProviderHeaders(h, p, seq, max(bodyLen/4, 1), s.now(), e.status)
	if _, ok := h["Retry-After"]; ok && e.retryAfter > 0 {
		// Retry-After counts whole seconds; OpenAI adds retry-after-ms.
		h["Retry-After"] = []string{strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10)}
		if p == provOpenAI {
			h["Retry-After-Ms"] = []string{strconv.FormatInt(e.retryAfter.Milliseconds(), 10)}
		}
	}
	return writeBody(w, e.status, hvJSON, appendErrorBody(make([]byte, 0, 256), p, e, seq), false)
}

// writeBody writes a whole body with its length; with cut set it writes
// only the first half and reports errCut.
func writeBody(w http.ResponseWriter, status int, contentType []string, b []byte, cut bool) error {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	if cut {
		_, _ = w.Write(b[:len(b)/2])
		_ = http.NewResponseController(w).Flush()
		return errCut
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	return nil
}

// replay answers with the bytes of cfg.ReplayFile.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, p provider, seq uint64, cfg *Config) error {
	data, err := os.ReadFile(cfg.ReplayFile)
	if err != nil {
		e := statusError(p, http.StatusInternalServerError)
		e.msg = fmt.Sprintf("mock: replay: %v", err)
		return s.writeError(w, p, seq, 1, e)
	}
	setProviderHeaders(w.Header(), p, seq, 1, s.now(), cfg.ReplayStatus)
	if !strings.HasSuffix(cfg.ReplayFile, ".sse") {
		return writeBody(w, cfg.ReplayStatus, hvJSON, data, cfg.DisconnectAfter > 0)
	}
	h := w.Header()
	h["Content-Type"] = hvEventStream
	h["Cache-Control"] = hvNoCache
	w.WriteHeader(cfg.ReplayStatus)
	ew := newEventWriter(w, r.Context(), cfg.ChunkGap, cfg.DisconnectAfter)
	defer ew.stop()
	for len(data) > 0 {
		n := bytes.Index(data, []byte("\n\n"))
		if n < 0 {
			n = len(data)
		} else {
			n += 2
		}
		if err := ew.content(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return errClientGone
	}
}
