// Package respstore keeps the answers of OpenAI Responses API requests that
// ask to be stored, in a JetStream key-value bucket, so that any gateway
// process can serve a follow-up naming one in previous_response_id and the
// GET and DELETE /v1/responses/{id} endpoints. The workers write and read
// entries; the ingress reads and deletes them for the endpoints.
//
// An entry is the response object the client was sent together with every
// input item of its conversation, the items of the responses before it
// included: a follow-up needs one read, however long the chain. Entries
// expire after the configured TTL (the bucket's maximum age) and are
// scoped to the API key that made them: the key of an entry starts with
// the scope, so one key can neither read nor delete another's.
package respstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/config"
	"github.com/aigateway/gateway/converter/jsonx"
)

// DefaultBucket is the key-value bucket holding stored responses.
const DefaultBucket = "gateway_responses"

// DefaultTimeout bounds one key-value call.
const DefaultTimeout = 2 * time.Second

// maxIDBytes bounds a response id: longer ones name nothing stored.
const maxIDBytes = 512

// sharedScope is the scope of every entry when access control is off.
const sharedScope = "shared"

// Sentinel errors of the store.
var (
	// ErrNotFound means no entry of that id exists in the caller's scope:
	// it never did, it expired, it was deleted, or another key made it.
	ErrNotFound = errors.New("respstore: no stored response with that id")
	// ErrTooLarge means an entry is over the configured size limit and was
	// not stored.
	ErrTooLarge = errors.New("respstore: entry over responses.max_item_bytes")
	// ErrUnavailable means the bucket could not be reached or is gone.
	ErrUnavailable = errors.New("respstore: store unavailable")
)

// Options are the store's settings and dependencies beside the
// configuration.
type Options struct {
	// Replicas of the bucket (bus.replicas); 0 means 1.
	Replicas int
	// Storage of the bucket: file storage (the zero value) keeps stored
	// responses across a NATS restart.
	Storage jetstream.StorageType
	// Bucket overrides DefaultBucket.
	Bucket string
	// Timeout overrides DefaultTimeout.
	Timeout time.Duration
	// Registerer receives gateway_stored_responses_total; nil registers
	// nowhere.
	Registerer prometheus.Registerer
}

// Entry is one stored response.
type Entry struct {
	// Response is the response object as the client was sent it.
	Response jsonx.RawMessage `json:"response"`
	// Input is the array of input items the response answered: the items
	// of the conversation before it, then the request's own.
	Input jsonx.RawMessage `json:"input"`
}

// Store reads and writes stored responses. It is safe for concurrent use.
type Store struct {
	js      jetstream.JetStream
	kvCfg   jetstream.KeyValueConfig
	timeout time.Duration
	ops     *prometheus.CounterVec

	mu sync.Mutex
	kv jetstream.KeyValue
	// confirmed is set once the bucket was found or made with this
	// store's settings.
	confirmed bool
	// onMissing is called when a call finds the bucket gone (SetOnMissing).
	onMissing func()
}

// New returns a store of stored responses in cfg's bucket on js. It does
// no I/O: the bucket is created by Resource's keeper, or on first use.
func New(js jetstream.JetStream, cfg config.Responses, opts Options) *Store {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if cfg.MaxItemBytes <= 0 {
		cfg.MaxItemBytes = config.DefaultResponsesMaxItem
	}
	if cfg.StoreTTL.Duration <= 0 {
		cfg.StoreTTL.Duration = config.DefaultResponsesTTL
	}
	return &Store{
		js:      js,
		timeout: opts.Timeout,
		ops:     newOperations(opts.Registerer),
		kvCfg: jetstream.KeyValueConfig{
			Bucket:       opts.Bucket,
			Description:  "gateway stored responses (OpenAI Responses API), by API key scope and response id",
			History:      1,
			TTL:          cfg.StoreTTL.Duration,
			MaxValueSize: int32(min(cfg.MaxItemBytes, 1<<31-1)),
			Storage:      opts.Storage,
			Replicas:     opts.Replicas,
		},
	}
}

// SetOnMissing sets what is called when a call finds the bucket gone; the
// owner passes its bus.Keeper's Kick, so the bucket is recreated at once
// rather than at the next periodic check.
func (s *Store) SetOnMissing(f func()) {
	s.mu.Lock()
	s.onMissing = f
	s.mu.Unlock()
}

// MaxItemBytes is the largest entry the store keeps.
func (s *Store) MaxItemBytes() int { return int(s.kvCfg.MaxValueSize) }

// Resource is the bucket as a resource a bus.Keeper keeps: a bucket that is
// gone, after a NATS restart on an empty store for instance, is created
// again.
func (s *Store) Resource() bus.Resource {
	return bus.Resource{
		Name:   "responses store",
		Check:  s.check,
		Create: s.create,
	}
}

// Ensure creates the bucket, or brings it to the store's settings, now: a
// process that serves the store's endpoints calls it at start, so it is
// ready before its keeper's first check.
func (s *Store) Ensure(ctx context.Context) error { return s.create(ctx) }

func (s *Store) check(ctx context.Context) error {
	kv, err := s.js.KeyValue(ctx, s.kvCfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%w: key-value bucket %s", bus.ErrMissing, s.kvCfg.Bucket)
	}
	if err != nil {
		return fmt.Errorf("respstore: key-value bucket %s: %w", s.kvCfg.Bucket, err)
	}
	s.mu.Lock()
	confirmed := s.confirmed
	s.mu.Unlock()
	if !confirmed {
		// A bucket made with another store_ttl or max_item_bytes (by an
		// earlier start, or another process) is brought to this
		// configuration once: the keeper would otherwise only ever find
		// it present.
		st, err := kv.Status(ctx)
		if err != nil {
			return fmt.Errorf("respstore: status of key-value bucket %s: %w", s.kvCfg.Bucket, err)
		}
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
			if info := bs.StreamInfo(); info.Config.MaxAge != s.kvCfg.TTL || info.Config.MaxMsgSize != s.kvCfg.MaxValueSize {
				return s.create(ctx)
			}
		}
	}
	s.setKV(kv)
	return nil
}

func (s *Store) create(ctx context.Context) error {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, s.kvCfg)
	if err != nil {
		return fmt.Errorf("respstore: create key-value bucket %q: %w", s.kvCfg.Bucket, err)
	}
	s.setKV(kv)
	return nil
}

func (s *Store) setKV(kv jetstream.KeyValue) {
	s.mu.Lock()
	s.kv, s.confirmed = kv, true
	s.mu.Unlock()
}

// bucket returns the bucket, looking it up when no check has yet.
func (s *Store) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	s.mu.Lock()
	kv := s.kv
	s.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	if err := s.check(ctx); err != nil {
		s.missing(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kv, nil
}

// missing reports a bucket found gone to the owner's keeper.
func (s *Store) missing(err error) {
	if !errors.Is(err, bus.ErrMissing) && !errors.Is(err, jetstream.ErrBucketNotFound) &&
		!errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
		return
	}
	s.mu.Lock()
	f := s.onMissing
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

// Save stores e as the response id in scope, replacing an entry of the same
// id. An entry over the size limit is refused with ErrTooLarge.
func (s *Store) Save(ctx context.Context, scope, id string, e Entry) (err error) {
	defer func() { s.count(opSave, err) }()
	key, ok := entryKey(scope, id)
	if !ok {
		return fmt.Errorf("respstore: response id %q cannot be stored: empty or longer than %d bytes", truncate(id), maxIDBytes)
	}
	value := make([]byte, 0, len(e.Response)+len(e.Input)+32)
	value = append(value, `{"response":`...)
	value = append(value, e.Response...)
	value = append(value, `,"input":`...)
	value = append(value, e.Input...)
	value = append(value, '}')
	if len(value) > s.MaxItemBytes() {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(value), s.MaxItemBytes())
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kv, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, key, value); err != nil {
		s.missing(err)
		return fmt.Errorf("%w: storing response: %w", ErrUnavailable, err)
	}
	return nil
}

// Load returns the entry of the response id in scope, or ErrNotFound.
func (s *Store) Load(ctx context.Context, scope, id string) (_ Entry, err error) {
	defer func() { s.count(opLoad, err) }()
	key, ok := entryKey(scope, id)
	if !ok {
		return Entry{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kv, err := s.bucket(ctx)
	if err != nil {
		return Entry{}, err
	}
	v, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		s.missing(err)
		return Entry{}, fmt.Errorf("%w: reading response: %w", ErrUnavailable, err)
	}
	var e Entry
	if err := jsonx.Unmarshal(v.Value(), &e); err != nil || len(e.Response) == 0 || len(e.Input) == 0 {
		return Entry{}, fmt.Errorf("respstore: stored entry %s is malformed: %v", key, err)
	}
	return e, nil
}

// Delete removes the response id from scope; ErrNotFound when there is
// none.
func (s *Store) Delete(ctx context.Context, scope, id string) (err error) {
	defer func() { s.count(opDelete, err) }()
	key, ok := entryKey(scope, id)
	if !ok {
		return ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kv, err := s.bucket(ctx)
	if err != nil {
		return err
	}
	v, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return ErrNotFound
	}
	if err != nil {
		s.missing(err)
		return fmt.Errorf("%w: reading response: %w", ErrUnavailable, err)
	}
	// Purge, not Delete: a delete marker would keep the key's last value
	// until the bucket's maximum age; purge drops it now.
	if err := kv.Purge(ctx, key, jetstream.LastRevision(v.Revision())); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			// Written again meanwhile: the caller deleted what it read.
			return nil
		}
		return fmt.Errorf("%w: deleting response: %w", ErrUnavailable, err)
	}
	return nil
}

// entryKey is the bucket key of a response: scope, then id. Key-value keys
// allow letters, digits and "-_=./" only; an id with other characters (or
// with "=", which marks the encoding) is stored base64url-encoded behind
// "=".
func entryKey(scope, id string) (string, bool) {
	if id == "" || len(id) > maxIDBytes {
		return "", false
	}
	if scope == "" {
		scope = sharedScope
	} else {
		scope = "k" + token(scope)
	}
	return scope + "." + token(id), true
}

// token returns s as one key-value key token.
func token(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
		}
	}
	return s
}

// truncate shortens an id for a message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
