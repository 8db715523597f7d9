package mock

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aigateway/gateway/converter/jsonx"
)

// The endpoints beside chat that SDKs and agents call: model listing,
// Anthropic's token counting and OpenAI's embeddings.
const (
	pathModels      = "/v1/models"
	pathCountTokens = "/v1/messages/count_tokens"
	pathEmbeddings  = "/v1/embeddings"
)

// DefaultEmbeddingDimensions is the length of the vectors /v1/embeddings
// returns when the request sets no dimensions.
const DefaultEmbeddingDimensions = 16

// mockModel is one model the mock reports.
type mockModel struct {
	id          string
	displayName string
	created     time.Time
}

// openAIModels and anthropicModels are what GET /v1/models lists, newest
// first as Anthropic orders them.
var (
	openAIModels = []mockModel{
		{id: "gpt-4o", created: time.Unix(1715367049, 0)},
		{id: "gpt-4o-mini", created: time.Unix(1721172741, 0)},
		{id: "text-embedding-3-small", created: time.Unix(1705948997, 0)},
	}
	anthropicModels = []mockModel{
		{id: "claude-opus-4-1-20250805", displayName: "Claude Opus 4.1", created: time.Date(2025, 8, 5, 0, 0, 0, 0, time.UTC)},
		{id: "claude-sonnet-4-5-20250929", displayName: "Claude Sonnet 4.5", created: time.Date(2025, 9, 29, 0, 0, 0, 0, time.UTC)},
		{id: "claude-haiku-4-5-20251001", displayName: "Claude Haiku 4.5", created: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)},
	}
)

// isEndpointPath reports whether path is one of the endpoints beside chat.
func isEndpointPath(path string) bool {
	return path == pathModels || strings.HasPrefix(path, pathModels+"/") ||
		path == pathCountTokens || path == pathEmbeddings
}

// serveEndpoint answers a request to one of the endpoints beside chat, the
// way the provider p does; a path the provider does not have gets its 404.
func (s *Server) serveEndpoint(w http.ResponseWriter, r *http.Request, p provider, seq uint64, body []byte) error {
	cfg, err := applyOverrides(*s.cfg.Load(), r.Header)
	if err != nil {
		return s.writeError(w, p, seq, len(body), invalid(err.Error()))
	}
	if cfg.Latency > 0 {
		if err := sleep(r.Context(), cfg.Latency); err != nil {
			return err
		}
	}
	if cfg.ErrorStatus != 0 {
		return s.writeError(w, p, seq, len(body), statusError(p, cfg.ErrorStatus))
	}
	if cfg.APIKey != "" && !authorized(r, p, cfg.APIKey) {
		return s.writeError(w, p, seq, len(body), statusError(p, http.StatusUnauthorized))
	}
	setProviderHeaders(w.Header(), p, seq, max(len(body)/4, 1), s.now(), http.StatusOK)
	path := r.URL.Path
	switch {
	case path == pathModels && r.Method == http.MethodGet:
		return s.serveModelList(w, r, p, seq)
	case strings.HasPrefix(path, pathModels+"/") && r.Method == http.MethodGet:
		return s.serveModel(w, p, seq, strings.TrimPrefix(path, pathModels+"/"))
	case path == pathCountTokens && r.Method == http.MethodPost && p == provAnthropic:
		return s.serveCountTokens(w, p, seq, body)
	case path == pathEmbeddings && r.Method == http.MethodPost && p == provOpenAI:
		return s.serveEmbeddings(w, p, seq, body)
	}
	return s.writeError(w, p, seq, len(body), notFound(p, r))
}

// notFound is the provider's 404 for a path or method it does not serve.
func notFound(p provider, r *http.Request) *apiError {
	e := statusError(p, http.StatusNotFound)
	if p == provAnthropic {
		e.msg = "Not found"
	} else {
		e.msg, e.code = "Invalid URL ("+r.Method+" "+r.URL.Path+")", ""
	}
	return e
}

func models(p provider) []mockModel {
	if p == provAnthropic {
		return anthropicModels
	}
	return openAIModels
}

func appendModel(b []byte, p provider, m mockModel) []byte {
	if p == provAnthropic {
		b = append(b, `{"type":"model","id":`...)
		b = jsonx.AppendString(b, m.id)
		b = append(b, `,"display_name":`...)
		b = jsonx.AppendString(b, m.displayName)
		b = append(b, `,"created_at":`...)
		b = jsonx.AppendString(b, m.created.UTC().Format(time.RFC3339))
		return append(b, '}')
	}
	b = append(b, `{"id":`...)
	b = jsonx.AppendString(b, m.id)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, m.created.Unix(), 10)
	return append(b, `,"owned_by":"system"}`...)
}

// serveModelList answers GET /v1/models: OpenAI's whole list, or a page of
// Anthropic's (limit, after_id, before_id).
func (s *Server) serveModelList(w http.ResponseWriter, r *http.Request, p provider, seq uint64) error {
	list := models(p)
	b := make([]byte, 0, 512)
	if p == provOpenAI {
		b = append(b, `{"object":"list","data":[`...)
		for i, m := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendModel(b, p, m)
		}
		return writeBody(w, http.StatusOK, hvJSON, append(b, "]}"...), false)
	}
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return s.writeError(w, p, seq, 0, invalid("limit: Input should be between 1 and 1000"))
		}
		limit = n
	}
	start, end := 0, len(list)
	if after := q.Get("after_id"); after != "" {
		start = indexOfModel(list, after) + 1
	}
	if before := q.Get("before_id"); before != "" {
		end = max(indexOfModel(list, before), 0)
	}
	start = min(start, end)
	page := list[start:end]
	hasMore := len(page) > limit
	if q.Get("before_id") != "" && q.Get("after_id") == "" && hasMore {
		page = page[len(page)-limit:]
	} else if hasMore {
		page = page[:limit]
	}
	b = append(b, `{"data":[`...)
	for i, m := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, p, m)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"first_id":`...)
	b = appendNullable(b, firstID(page))
	b = append(b, `,"last_id":`...)
	b = appendNullable(b, lastID(page))
	return writeBody(w, http.StatusOK, hvJSON, append(b, '}'), false)
}

func indexOfModel(list []mockModel, id string) int {
	for i, m := range list {
		if m.id == id {
			return i
		}
	}
	return -1
}

func firstID(page []mockModel) string {
	if len(page) == 0 {
		return ""
	}
	return page[0].id
}

func lastID(page []mockModel) string {
	if len(page) == 0 {
		return ""
	}
	return page[len(page)-1].id
}

// serveModel answers GET /v1/models/{id}.
func (s *Server) serveModel(w http.ResponseWriter, p provider, seq uint64, id string) error {
	list := models(p)
	i := indexOfModel(list, id)
	if i < 0 {
		e := statusError(p, http.StatusNotFound)
		if p == provAnthropic {
			e.msg = "model: " + id
		} else {
			e.msg, e.code = "The model '"+id+"' does not exist", "model_not_found"
		}
		return s.writeError(w, p, seq, 0, e)
	}
	return writeBody(w, http.StatusOK, hvJSON, appendModel(nil, p, list[i]), false)
}

// serveCountTokens answers POST /v1/messages/count_tokens with the count
// the mock's own answers report as input tokens.
func (s *Server) serveCountTokens(w http.ResponseWriter, p provider, seq uint64, body []byte) error {
	req, err := decodeAnthropic(body)
	switch {
	case err != nil:
		return s.writeError(w, p, seq, len(body), invalid("There was an error parsing the body of your request: "+err.Error()))
	case req.Model == nil || *req.Model == "":
		return s.writeError(w, p, seq, len(body), invalid("model: Field required"))
	case len(req.Messages) == 0:
		return s.writeError(w, p, seq, len(body), invalid("messages: Field required"))
	}
	b := append([]byte(`{"input_tokens":`), strconv.Itoa(max(len(body)/4, 1))...)
	return writeBody(w, http.StatusOK, hvJSON, append(b, '}'), false)
}

// embeddingRequest is an OpenAI embeddings request.
type embeddingRequest struct {
	Model          string           `json:"model"`
	Input          jsonx.RawMessage `json:"input"`
	Dimensions     int              `json:"dimensions"`
	EncodingFormat string           `json:"encoding_format"`
}

// embeddingInputs returns the texts (or token arrays, as their JSON) of an
// embeddings input: a string, an array of strings, an array of token ids,
// or an array of such arrays.
func embeddingInputs(raw jsonx.RawMessage) ([]string, bool) {
	var one string
	if jsonx.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if jsonx.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many, true
	}
	var tokens []int64
	if jsonx.Unmarshal(raw, &tokens) == nil && len(tokens) > 0 {
		return []string{string(raw)}, true
	}
	var batches []jsonx.RawMessage
	if jsonx.Unmarshal(raw, &batches) == nil && len(batches) > 0 {
		out := make([]string, len(batches))
		for i, b := range batches {
			var t []int64
			if jsonx.Unmarshal(b, &t) != nil || len(t) == 0 {
				return nil, false
			}
			out[i] = string(b)
		}
		return out, true
	}
	return nil, false
}

// serveEmbeddings answers POST /v1/embeddings with vectors derived from a
// hash of each input, so that equal inputs get equal vectors.
func (s *Server) serveEmbeddings(w http.ResponseWriter, p provider, seq uint64, body []byte) error {
	var req embeddingRequest
	if err := jsonx.Unmarshal(body, &req); err != nil {
		return s.writeError(w, p, seq, len(body), invalid("We could not parse the JSON body of your request. The OpenAI API expects a JSON payload: "+err.Error()))
	}
	if req.Model == "" {
		return s.writeError(w, p, seq, len(body), invalidParam("you must provide a model parameter", "model", ""))
	}
	inputs, ok := embeddingInputs(req.Input)
	if !ok {
		return s.writeError(w, p, seq, len(body), invalidParam("'input' must be a non-empty string, array of strings, or array of token arrays", "input", ""))
	}
	dims := req.Dimensions
	if dims == 0 {
		dims = DefaultEmbeddingDimensions
	}
	if dims < 1 || dims > 3072 {
		return s.writeError(w, p, seq, len(body), invalidParam("dimensions must be between 1 and 3072", "dimensions", ""))
	}
	tokens := 0
	b := append(make([]byte, 0, 256), `{"object":"list","data":[`...)
	for i, in := range inputs {
		tokens += max(len(in)/4, 1)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		vec := embed(in, dims)
		if req.EncodingFormat == "base64" {
			raw := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			b = jsonx.AppendString(b, base64.StdEncoding.EncodeToString(raw))
		} else {
			b = append(b, '[')
			for j, f := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = jsonx.AppendString(b, req.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	return writeBody(w, http.StatusOK, hvJSON, append(b, "}}"...), false)
}

// embed returns a unit vector of dims components derived from text.
func embed(text string, dims int) []float32 {
	vec := make([]float32, dims)
	var norm float64
	for i := range vec {
		h := fnv.New32a()
		_, _ = h.Write([]byte{byte(i), byte(i >> 8)})
		_, _ = h.Write([]byte(text))
		v := float64(h.Sum32())/math.MaxUint32*2 - 1
		vec[i] = float32(v)
		norm += v * v
	}
	if norm > 0 {
		scale := 1 / math.Sqrt(norm)
		for i := range vec {
			vec[i] = float32(float64(vec[i]) * scale)
		}
	}
	return vec
}
