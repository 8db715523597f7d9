package respstore

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations and results of gateway_stored_responses_total.
const (
	opSave   = "save"
	opLoad   = "load"
	opDelete = "delete"

	resultOK       = "ok"
	resultNotFound = "not_found"
	resultTooLarge = "too_large"
	resultError    = "error"
)

// newOperations registers gateway_stored_responses_total on reg, or finds
// it there: the ingress and the workers of one process share it. A nil reg
// counts nowhere.
func newOperations(reg prometheus.Registerer) *prometheus.CounterVec {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_stored_responses_total",
		Help: "Operations on stored Responses API answers, by operation (save, load, delete) and result (ok, not_found, too_large, error).",
	}, []string{"op", "result"})
	if reg == nil {
		return vec
	}
	if err := reg.Register(vec); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			panic(err)
		}
		vec = already.ExistingCollector.(*prometheus.CounterVec)
	}
	return vec
}

// count records the outcome of one operation.
func (s *Store) count(op string, err error) {
	result := resultOK
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		result = resultNotFound
	case errors.Is(err, ErrTooLarge):
		result = resultTooLarge
	default:
		result = resultError
	}
	s.ops.WithLabelValues(op, result).Inc()
}
