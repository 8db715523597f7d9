package bus

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Body returns the request's body, fetching it in chunks from the ingress
// when it was too large to travel inside the envelope.
func Body(ctx context.Context, nc *nats.Conn, req *Request) ([]byte, error) {
	if req.BodySubject == "" {
		return req.Body, nil
	}
	body := make([]byte, 0, req.BodySize)
	var offset [binary.MaxVarintLen64]byte
	for len(body) < req.BodySize {
		n := binary.PutUvarint(offset[:], uint64(len(body)))
		msg, err := nc.RequestWithContext(ctx, req.BodySubject, offset[:n])
		if err != nil {
			return nil, fmt.Errorf("fetching request body at offset %d: %w", len(body), err)
		}
		if len(msg.Data) == 0 {
			return nil, fmt.Errorf("fetching request body at offset %d: the ingress no longer has it", len(body))
		}
		body = append(body, msg.Data...)
	}
	if len(body) != req.BodySize {
		return nil, fmt.Errorf("request body is %d bytes, want %d", len(body), req.BodySize)
	}
	return body, nil
}
