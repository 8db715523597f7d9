package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Errors of enqueueing a request.
var (
	// ErrQueueFull is returned when an upstream's queue holds queue_size requests.
	ErrQueueFull = errors.New("bus: queue full")
	// ErrEnqueue is returned when JetStream refused a request for another
	// reason, or no stream serves the queue's subject.
	ErrEnqueue = errors.New("bus: request not queued")
)

// QueueConfig describes one upstream's work queue.
type QueueConfig struct {
	Upstream string
	// Size bounds the requests waiting for a worker.
	Size int
	// Timeout is the longest a request may wait; messages older than twice
	// that are garbage the stream drops on its own.
	Timeout  time.Duration
	Replicas int
}

// EnsureQueue creates or updates the upstream's work-queue stream and the
// consumer its workers share. Ingress and worker processes both call it, so
// either may start first.
//
// Each attempt is bounded by queueSetupAttempt and retried while ctx lasts
// and the failure is one a cluster recovers from: on a JetStream cluster,
// processes that create the same replicated stream at the same moment may
// never hear back, and a cluster electing a leader answers nothing.
func EnsureQueue(ctx context.Context, js jetstream.JetStream, q QueueConfig) (jetstream.Consumer, error) {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, queueSetupAttempt)
		cons, err := ensureQueue(attempt, js, q)
		cancel()
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil && last != nil {
			// The attempt was cut short by the caller: the one before
			// says why the queue could not be made.
			return nil, last
		}
		if ctx.Err() != nil || !transient(err) {
			return nil, err
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// queueSetupAttempt bounds one attempt at creating a queue; creating a
// replicated stream takes well under a second on a healthy cluster.
const queueSetupAttempt = 3 * time.Second

// jsErrReplicasNotSupported is JetStream's error code for replicas > 1
// asked of a server that is not in a cluster.
const jsErrReplicasNotSupported = 10074

// transient reports whether a JetStream API failure may go away on retry.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// A single server answers 500 to replicas it can never place:
		// retrying would wait forever in silence.
		return apiErr.Code >= 500 && apiErr.ErrorCode != jsErrReplicasNotSupported
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

func ensureQueue(ctx context.Context, js jetstream.JetStream, q QueueConfig) (jetstream.Consumer, error) {
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        QueueStream(q.Upstream),
		Description: "requests waiting for a worker of upstream " + q.Upstream,
		Subjects:    []string{QueueSubject(q.Upstream)},
		Retention:   jetstream.WorkQueuePolicy,
		// A full queue must refuse the publish, so the ingress can answer 429
		// at once instead of letting the stream evict a waiting request.
		Discard:    jetstream.DiscardNew,
		MaxMsgs:    int64(q.Size),
		MaxAge:     2 * q.Timeout,
		Storage:    jetstream.MemoryStorage,
		Replicas:   max(q.Replicas, 1),
		Duplicates: 0,
	})
	if err != nil {
		return nil, fmt.Errorf("creating queue stream for upstream %q: %w", q.Upstream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   queueConsumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		// Workers acknowledge as soon as they accept a request; a request is
		// never redelivered, because half an answer cannot be replayed.
		AckWait:       30 * time.Second,
		MaxDeliver:    1,
		MaxWaiting:    4096,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("creating queue consumer for upstream %q: %w", q.Upstream, err)
	}
	return cons, nil
}

// Queues is the ingress side of the work queues.
type Queues struct {
	js      jetstream.JetStream
	mu      sync.Mutex
	streams map[string]jetstream.Stream
}

// NewQueues returns the ingress's handle on the work queues.
func NewQueues(js jetstream.JetStream) *Queues {
	return &Queues{js: js, streams: make(map[string]jetstream.Stream)}
}

// Enqueue publishes an encoded request envelope on the upstream's queue
// without waiting. JetStream acknowledges the publish on the request's own
// reply subject, where the ingress reads it among the reply frames (see
// Reply.Next): no per-request future, timer or subscription is needed, and a
// worker's frames may well arrive first.
func (q *Queues) Enqueue(upstream, reply string, envelope []byte) error {
	if err := q.js.Conn().PublishRequest(QueueSubject(upstream), reply, envelope); err != nil {
		return fmt.Errorf("publishing to queue of %q: %w", upstream, err)
	}
	return nil
}

// pubAck is JetStream's answer to a publish on a stream's subject.
type pubAck struct {
	Seq   uint64 `json:"seq"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// jsErrStoreFailed is JetStream's error code for a message the stream
// refused to store; with discard-new it means the queue is full.
const jsErrStoreFailed = 10077

// parsePubAck reads JetStream's acknowledgement of an enqueued request.
func parsePubAck(data []byte) (uint64, error) {
	var ack pubAck
	if err := jsonx.Unmarshal(data, &ack); err != nil {
		return 0, fmt.Errorf("%w: unreadable acknowledgement: %v", ErrEnqueue, err)
	}
	if ack.Error != nil {
		if ack.Error.ErrCode == jsErrStoreFailed || strings.Contains(ack.Error.Description, "maximum messages exceeded") {
			return 0, ErrQueueFull
		}
		return 0, fmt.Errorf("%w: %s", ErrEnqueue, ack.Error.Description)
	}
	return ack.Seq, nil
}

// Remove deletes a request that is still waiting in the queue, so that no
// worker starts it once its client has gone. It reports whether the request
// was still there.
func (q *Queues) Remove(ctx context.Context, upstream string, seq uint64) bool {
	stream, err := q.stream(ctx, upstream)
	if err != nil {
		return false
	}
	return stream.DeleteMsg(ctx, seq) == nil
}

// Depth returns the number of requests waiting in the upstream's queue.
func (q *Queues) Depth(ctx context.Context, upstream string) (uint64, error) {
	stream, err := q.stream(ctx, upstream)
	if err != nil {
		return 0, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue info of %q: %w", upstream, err)
	}
	return info.State.Msgs, nil
}

func (q *Queues) stream(ctx context.Context, upstream string) (jetstream.Stream, error) {
	q.mu.Lock()
	s, ok := q.streams[upstream]
	q.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := q.js.Stream(ctx, QueueStream(upstream))
	if err != nil {
		return nil, fmt.Errorf("queue stream of %q: %w", upstream, err)
	}
	q.mu.Lock()
	q.streams[upstream] = s
	q.mu.Unlock()
	return s, nil
}
