package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/aigateway/gateway/converter/jsonx"
)

// Model listing. An ingress asks an upstream's workers for the models the
// upstream reports with a core NATS request on ModelsSubject; one worker of
// the upstream's queue group answers with a ModelList. It is not queued
// behind model calls: listing is cheap and its answer is cached.
const (
	modelsPrefix     = "_GW.models."
	modelsQueueGroup = "workers"
)

// ModelsSubject is the subject on which the upstream's workers answer model
// listing requests.
func ModelsSubject(upstream string) string { return modelsPrefix + token(upstream) }

// ModelInfo is one model an upstream reports, in the fields both dialects'
// model objects are built from.
type ModelInfo struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name,omitempty"`
	// Created is the model's release as Unix seconds; 0 when unknown.
	Created int64  `json:"created,omitempty"`
	OwnedBy string `json:"owned_by,omitempty"`
}

// ModelList is a worker's answer to a model listing request. Error is set,
// and Models empty, when the upstream could not be asked.
type ModelList struct {
	Models []ModelInfo `json:"models"`
	Error  string      `json:"error,omitempty"`
}

// ErrModelListing means the upstream's workers could not list its models.
var ErrModelListing = errors.New("bus: listing upstream models failed")

// ServeModels subscribes serve to the upstream's model listing requests, in
// the workers' queue group so that one worker answers each. serve runs on
// the NATS dispatch goroutine and must hand slow work off. Unsubscribe the
// returned subscription to stop.
func ServeModels(nc *nats.Conn, upstream string, serve func(msg *nats.Msg)) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(ModelsSubject(upstream), modelsQueueGroup, serve)
	if err != nil {
		return nil, fmt.Errorf("subscribing to model listing for %s: %w", upstream, err)
	}
	return sub, nil
}

// RespondModels sends list as the answer to a listing request.
func RespondModels(msg *nats.Msg, list ModelList) error {
	b, err := jsonx.Marshal(list)
	if err != nil {
		return fmt.Errorf("encoding model list: %w", err)
	}
	return msg.Respond(b)
}

// RequestModels asks one of the upstream's workers for the models the
// upstream reports. It fails with nats.ErrNoResponders when no worker serves
// the upstream, and with ErrModelListing when the worker could not ask it.
func RequestModels(ctx context.Context, nc *nats.Conn, upstream string) ([]ModelInfo, error) {
	msg, err := nc.RequestWithContext(ctx, ModelsSubject(upstream), nil)
	if err != nil {
		return nil, fmt.Errorf("asking workers of %s for models: %w", upstream, err)
	}
	var list ModelList
	if err := jsonx.Unmarshal(msg.Data, &list); err != nil {
		return nil, fmt.Errorf("decoding model list from workers of %s: %w", upstream, err)
	}
	if list.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrModelListing, list.Error)
	}
	return list.Models, nil
}
