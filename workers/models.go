package workers

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/aigateway/gateway/bus"
	"github.com/aigateway/gateway/converter/format"
	"github.com/aigateway/gateway/converter/jsonx"
)

const (
	// modelListTimeout bounds one listing of an upstream's models, all
	// pages included; the ingress waits a little longer.
	modelListTimeout = 8 * time.Second
	// maxModelPages bounds the pages of an Anthropic listing followed.
	maxModelPages = 20
)

// modelLister answers the bus's model listing requests for one pool by
// asking the upstream (GET /v1/models). Requests that arrive while a listing
// is under way share its answer.
type modelLister struct {
	p     *pool
	sub   *nats.Subscription
	calls singleflight.Group
	wg    sync.WaitGroup
	// ctx ends the listings in progress when the service stops.
	ctx    context.Context
	cancel context.CancelFunc
}

// serveModels starts answering model listing requests for every pool.
func (s *Service) serveModels() error {
	for _, p := range s.pools {
		l := &modelLister{p: p}
		l.ctx, l.cancel = context.WithCancel(context.Background())
		sub, err := bus.ServeModels(s.nc, p.upstream.Name, func(msg *nats.Msg) {
			// The NATS dispatch goroutine must not wait on the upstream.
			l.wg.Go(func() { l.answer(msg) })
		})
		if err != nil {
			l.cancel()
			s.stopModels()
			return err
		}
		l.sub = sub
		s.listers = append(s.listers, l)
	}
	return nil
}

// stopModels stops answering and waits for the listings in progress.
func (s *Service) stopModels() {
	for _, l := range s.listers {
		if err := l.sub.Unsubscribe(); err != nil {
			s.logger.Debug("unsubscribing model listing", "upstream", l.p.upstream.Name, "err", err)
		}
		l.cancel()
		l.wg.Wait()
	}
	s.listers = nil
}

func (l *modelLister) answer(msg *nats.Msg) {
	v, err, _ := l.calls.Do("", func() (any, error) { return l.list(l.ctx) })
	var list bus.ModelList
	if err != nil {
		// The ingress logs it; the reason is safe to show (no key in it).
		list.Error = err.Error()
	} else {
		list.Models = v.([]bus.ModelInfo)
	}
	if err := bus.RespondModels(msg, list); err != nil {
		l.p.logger.Debug("answering a model listing failed", "err", err)
	}
}

// upstreamModel is a model object of either provider's listing.
type upstreamModel struct {
	ID          string `json:"id"`
	Created     int64  `json:"created"`
	OwnedBy     string `json:"owned_by"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type upstreamModelPage struct {
	Data    []upstreamModel `json:"data"`
	HasMore bool            `json:"has_more"`
	LastID  string          `json:"last_id"`
}

// list asks the upstream for its models, following Anthropic's pages.
func (l *modelLister) list(ctx context.Context) ([]bus.ModelInfo, error) {
	p := l.p
	ctx, cancel := context.WithTimeout(ctx, modelListTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var out []bus.ModelInfo
	after := ""
	for range maxModelPages {
		path := "/models"
		if p.format.Family() == format.FamilyAnthropic {
			path += "?limit=1000"
			if after != "" {
				path += "&after_id=" + url.QueryEscape(after)
			}
		}
		resp, err := p.client.doAt(ctx, deadline, fasthttp.MethodGet, path, &bus.Request{}, p.format, nil)
		if err != nil {
			return nil, fmt.Errorf("upstream %s could not be reached", p.upstream.Name)
		}
		status := resp.Status()
		var page upstreamModelPage
		err = jsonx.Unmarshal(resp.Body(), &page)
		resp.Close()
		if status != fasthttp.StatusOK {
			return nil, fmt.Errorf("upstream %s answered GET /v1/models with status %d", p.upstream.Name, status)
		}
		if err != nil {
			return nil, fmt.Errorf("upstream %s sent a model list the gateway cannot read", p.upstream.Name)
		}
		for _, m := range page.Data {
			if m.ID == "" {
				continue
			}
			info := bus.ModelInfo{ID: m.ID, DisplayName: m.DisplayName, Created: m.Created, OwnedBy: m.OwnedBy}
			if t, err := time.Parse(time.RFC3339, m.CreatedAt); err == nil && info.Created == 0 {
				info.Created = t.Unix()
			}
			out = append(out, info)
		}
		if p.format.Family() != format.FamilyAnthropic || !page.HasMore || page.LastID == "" || page.LastID == after {
			break
		}
		after = page.LastID
	}
	return out, nil
}
