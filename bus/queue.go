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
)

// ErrQueueFull is returned when an upstream's queue holds queue_size requests.
var ErrQueueFull = errors.New("bus: queue full")

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
func EnsureQueue(ctx context.Context, js jetstream.JetStream, q QueueConfig) (jetstream.Consumer, error) {
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
// without waiting for the acknowledgement: the caller selects on the returned
// future together with the reply frames, which may well arrive first.
func (q *Queues) Enqueue(upstream string, envelope []byte) (jetstream.PubAckFuture, error) {
	msg := &nats.Msg{Subject: QueueSubject(upstream), Data: envelope}
	f, err := q.js.PublishMsgAsync(msg, jetstream.WithExpectStream(QueueStream(upstream)))
	if err != nil {
		return nil, fmt.Errorf("publishing to queue of %q: %w", upstream, err)
	}
	return f, nil
}

// EnqueueError classifies a failed publish acknowledgement.
func EnqueueError(err error) error {
	if isQueueFull(err) {
		return ErrQueueFull
	}
	return err
}

func isQueueFull(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages exceeded") {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "maximum messages exceeded")
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
