package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
	whmsg "github.com/pilot-go/pilot/internal/wire/svcmsg/webhook"
)

// Fleet auto-join (cli.md §3.4, R15).

// Auto-join timings (cli.md §3.4).
const (
	JoinTimeout     = 10 * time.Second
	joinRetryFirst  = 5 * time.Second
	joinRetryMaxGap = 5 * time.Minute
)

// NetworkEntry is one -networks entry: ID, or ID=TOKEN.
type NetworkEntry struct {
	ID    addr.NetworkID
	Token string // join token; a secret, never logged
}

// ParseNetworks parses -networks: comma-separated entries ID or ID=TOKEN,
// ID a decimal in 1..65535. Duplicate IDs are ignored (the first entry
// wins). A malformed entry is an error naming it; the token is not
// echoed.
func ParseNetworks(s string) ([]NetworkEntry, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []NetworkEntry
	seen := map[addr.NetworkID]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		idText, token, hasToken := strings.Cut(part, "=")
		id, err := strconv.ParseUint(idText, 10, 16)
		if err != nil || id == 0 || idText != strconv.FormatUint(id, 10) {
			return nil, fmt.Errorf("entry %q: want a network ID in 1..65535, optionally followed by =TOKEN", idText)
		}
		if hasToken && token == "" {
			return nil, fmt.Errorf("entry %q: empty join token after '='", idText+"=")
		}
		if seen[addr.NetworkID(id)] {
			continue
		}
		seen[addr.NetworkID(id)] = true
		out = append(out, NetworkEntry{ID: addr.NetworkID(id), Token: token})
	}
	return out, nil
}

// Joiner is the registry call auto-join makes; *regclient.Client
// implements it.
type Joiner interface {
	JoinNetworkLeastPrivilege(ctx context.Context, network addr.NetworkID, joinToken, adminToken string, opts ...regclient.CallOption) (*regmsg.JoinNetworkOK, error)
}

// AutoJoinConfig configures an AutoJoiner.
type AutoJoinConfig struct {
	Client     Joiner
	Networks   []NetworkEntry
	AdminToken string // -admin-token; used only in the retry after permission_denied
	Events     Emitter
	Logger     *slog.Logger
	// OnMember is called for every network the node is a member of after
	// a join (joined now or already a member); the membership tracker uses
	// it so that the join is not later reported as network.sync_joined.
	OnMember func(network addr.NetworkID)
}

// joinState is the retry state of one entry.
type joinState struct {
	due     time.Time // zero = nothing to do
	backoff time.Duration
}

// AutoJoiner joins the configured networks after each registration. Its
// goroutine lives in Run; Trigger is safe for concurrent use.
type AutoJoiner struct {
	cfg     AutoJoinConfig
	log     *slog.Logger
	trigger chan struct{} // capacity 1: coalesced triggers

	passed   chan struct{} // closed after the first pass (at once with no networks)
	passOnce sync.Once
}

// NewAutoJoiner returns an auto-joiner; with no networks configured its
// Run returns at once.
func NewAutoJoiner(cfg AutoJoinConfig) *AutoJoiner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = nopEmitter{}
	}
	a := &AutoJoiner{cfg: cfg, log: cfg.Logger, trigger: make(chan struct{}, 1), passed: make(chan struct{})}
	if len(cfg.Networks) == 0 {
		a.firstPassOver()
	}
	return a
}

// FirstPass is closed once the first pass over the configured networks is
// over (at once when none is configured): the daemon starts IPC and its
// services after it (cli.md §3.1 start-up order).
func (a *AutoJoiner) FirstPass() <-chan struct{} { return a.passed }

func (a *AutoJoiner) firstPassOver() { a.passOnce.Do(func() { close(a.passed) }) }

// Trigger starts a pass over every configured network (after the first
// successful registration and after every re-registration). It never
// blocks.
func (a *AutoJoiner) Trigger() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Run serves triggers and background retries until ctx ends.
func (a *AutoJoiner) Run(ctx context.Context) error {
	if len(a.cfg.Networks) == 0 {
		<-ctx.Done()
		return nil
	}
	states := make([]joinState, len(a.cfg.Networks))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.trigger:
			now := time.Now()
			for i := range states {
				states[i] = joinState{due: now, backoff: joinRetryFirst}
			}
		case <-timer.C:
		}
		a.pass(ctx, states)
		a.firstPassOver()
		if next, ok := earliest(states); ok {
			timer.Reset(time.Until(next))
		}
	}
}

// pass runs one join for every due entry, in list order.
func (a *AutoJoiner) pass(ctx context.Context, states []joinState) {
	for i, e := range a.cfg.Networks {
		st := &states[i]
		if st.due.IsZero() || time.Now().Before(st.due) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if a.joinOne(ctx, e) {
			st.due = time.Now().Add(st.backoff)
			a.log.Info("auto-join will retry", "network", e.ID, "delay", st.backoff)
			st.backoff = min(2*st.backoff, joinRetryMaxGap)
		} else {
			st.due = time.Time{}
		}
	}
}

// joinOne makes one least-privilege join and applies the outcome table of
// cli.md §3.4; it reports whether the entry should be retried later.
func (a *AutoJoiner) joinOne(ctx context.Context, e NetworkEntry) (retry bool) {
	jctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	rep, err := a.cfg.Client.JoinNetworkLeastPrivilege(jctx, e.ID, e.Token, a.cfg.AdminToken)
	if err == nil {
		a.log.Info("auto-joined network", "network", e.ID, "addr", rep.Address.String())
		a.cfg.Events.Emit("network.auto_joined", whmsg.Fields{
			{Key: "network_id", Value: uint64(e.ID)}, {Key: "address", Value: rep.Address.String()},
		})
		a.member(e.ID)
		return false
	}
	var re *regmsg.Error
	if !errors.As(err, &re) {
		if ctx.Err() != nil {
			return false // shutting down
		}
		a.log.Warn("auto-join failed; will retry", "network", e.ID, "err", err)
		return true
	}
	switch re.Code {
	case regmsg.CodeAlreadyExists:
		a.log.Debug("auto-join: already a member", "network", e.ID)
		a.member(e.ID)
		return false
	case regmsg.CodeFailedPrecondition:
		a.log.Warn(fmt.Sprintf("network %d is invite-only; auto-join never joins invite-only networks, accept an invite instead", e.ID),
			"network", e.ID, "err", re.Message)
		return false
	case regmsg.CodeUnavailable, regmsg.CodeRateLimited, regmsg.CodeInternal:
		a.log.Warn("auto-join failed; will retry", "network", e.ID, "code", string(re.Code), "err", re.Message)
		return true
	}
	a.log.Warn("auto-join refused", "network", e.ID, "code", string(re.Code), "err", re.Message)
	return false
}

func (a *AutoJoiner) member(id addr.NetworkID) {
	if a.cfg.OnMember != nil {
		a.cfg.OnMember(id)
	}
}

func earliest(states []joinState) (time.Time, bool) {
	var t time.Time
	for _, s := range states {
		if !s.due.IsZero() && (t.IsZero() || s.due.Before(t)) {
			t = s.due
		}
	}
	return t, !t.IsZero()
}

// Emitter receives daemon webhook events (services.md §8.3);
// *webhook.Client implements it. Emit must not block.
type Emitter interface {
	Emit(event string, data whmsg.Fields)
}

type nopEmitter struct{}

func (nopEmitter) Emit(string, whmsg.Fields) {}
