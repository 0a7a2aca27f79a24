// Package tasksubmit is the built-in task-submit service on port 1003
// (services.md §7). It reads frames (svcmsg/task: u32 type ‖ u32 length ‖
// JSON, length ≤ 16 MiB) from a stream connection until EOF — the original
// reads only one per connection and loses the second that pilotctl sends:
//
//	SUBMIT (1)          checked, stored, answered by a type-1 frame
//	                    {task_id, status: 200|400, message}
//	STATUS_UPDATE (3)   stored, no reply
//	SEND_RESULTS (4)    stored (file data beside the record), no reply;
//	                    may reward the executor's polo score (below)
//	RESULT (2), others  read and discarded (§7 gives RESULT no payload)
//
// A frame longer than 16 MiB or a payload that is not the expected JSON
// object closes that connection, without a reply (§1).
//
// # SUBMIT
//
// Checks, in order; the first that fails is the 400 message:
//
//  1. A registry connection exists, else "Registry unavailable, cannot
//     verify polo score" (the original's last release, which refuses
//     every SUBMIT that way while it has no registry).
//  2. task_id satisfies task.ValidTaskID, else "Invalid task_id". The ID
//     becomes part of a file name, so it is never used unvalidated.
//  3. from_addr, when present, names the stream's remote node, else
//     "from_addr does not match the sender". The submitter is always the
//     authenticated remote node, never the claimed address.
//  4. The submitter's polo score can be read (a failed get_polo_score is
//     reported like 1) and is at least MinSubmitterScore (default 0), else
//     "Polo score <n> below the required <m>". §7 says the score is
//     verified but not against what; ≥ 0 refuses only nodes whose
//     reputation was already lowered.
//  5. The peer has not submitted this task_id before, else "Duplicate
//     task_id"; a failed write is "Task could not be stored".
//
// Accepted: "Task accepted". task_exec (registry.md set_task_exec) is not
// required: §7 ties acceptance to the registry and the score only, and
// task_exec is a directory advertisement; -no-tasksubmit is the switch.
//
// # Task files
//
// One JSON record per task, written atomically (temporary file, fsync,
// rename, directory fsync), 0600 in 0700 directories:
//
//	<state-dir>/tasks/received/<peer-node-hex8>-<task_id>.json
//	    tasks peers submitted to this node: {task_id, peer, submission}
//	<state-dir>/tasks/submitted/<peer-node-hex8>-<task_id>.json
//	    tasks this node submitted (RecordSubmitted), with the status
//	    updates and results their executor sent back:
//	    {task_id, peer, submission?, status_updates, results, rewarded?}
//	<state-dir>/tasks/submitted/<peer-node-hex8>-<task_id>.files/<n>-<name>
//	    file_data of result n; <name> sanitised as data-exchange names
//	    (services.md §3.2 step 2)
//
// Records are keyed by the sending peer, so one peer can never add to or
// overwrite another's task. STATUS_UPDATE and SEND_RESULTS come from the
// executor to the submitter and are filed under submitted/, also when
// this node has no record of the submission. At most MaxUpdates updates
// and MaxResults results are kept per task; later ones are dropped.
//
// # Polo score
//
// Reputation changes go through Registry.UpdatePoloScore, which needs the
// global admin token (registry.md §7.9); a registry adapter without one
// returns ErrNoAdminToken and the service then changes nothing, but still
// accepts and stores tasks. The only change made is +RewardDelta (1) to
// an executor for the first SEND_RESULTS of a task this node recorded as
// submitted to it (RecordSubmitted): results for tasks never submitted
// would otherwise let any peer farm reputation from an admin daemon. §7
// names no amounts; this is the smallest rule that cannot be abused.
//
// No webhook events are emitted: services.md §8.3 lists none for tasks.
package tasksubmit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/services"
	"github.com/pilot-go/pilot/internal/wire/svcmsg/task"
)

// Port is the task-submit service port.
const Port = 1003

// RewardDelta is the polo score change for an executor's results.
const RewardDelta = 1

// Reply messages of a SUBMIT (services.md §7 fixes MsgRegistryUnavailable).
const (
	MsgAccepted            = "Task accepted"
	MsgInvalidTaskID       = "Invalid task_id"
	MsgRegistryUnavailable = "Registry unavailable, cannot verify polo score"
	MsgFromMismatch        = "from_addr does not match the sender"
	MsgDuplicate           = "Duplicate task_id"
	MsgStoreFailed         = "Task could not be stored"
)

var (
	// ErrMalformed is returned by Serve for a frame whose payload is not
	// the expected JSON object; the connection is closed.
	ErrMalformed = errors.New("tasksubmit: malformed frame")
	// ErrNoAdminToken is returned by a Registry's UpdatePoloScore when the
	// daemon has no global admin token: scores are then left unchanged.
	ErrNoAdminToken = errors.New("tasksubmit: no admin token, polo scores unchanged")
)

// Registry is the registry access the service needs (registry.md §7.9);
// the daemon adapts internal/regclient to it.
type Registry interface {
	// Available reports whether a registry connection exists now.
	Available() bool
	// PoloScore returns node's score (get_polo_score).
	PoloScore(ctx context.Context, node addr.NodeID) (int, error)
	// UpdatePoloScore adds delta to node's score (update_polo_score);
	// ErrNoAdminToken when the daemon cannot authorise it.
	UpdatePoloScore(ctx context.Context, node addr.NodeID, delta int) error
}

// Service is the task-submit service. Fields are set before the first
// Serve and not changed afterwards; zero values are usable except
// StateDir. A Service must not be copied after first use.
type Service struct {
	// StateDir is the daemon state directory; tasks/ is created inside it.
	StateDir string
	// Registry checks and changes polo scores; nil means no registry
	// connection (every SUBMIT is refused).
	Registry Registry
	// MinSubmitterScore is the lowest polo score accepted from a
	// submitter (default 0).
	MinSubmitterScore int
	// Now is the clock for stored times; nil is time.Now.
	Now func() time.Time
	// IdleTimeout bounds every read and reply write (default
	// services.DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Logger receives DEBUG lines for refused input; nil discards.
	Logger *slog.Logger

	mu      sync.Mutex // serialises read-modify-write of task records
	limiter services.Limiter
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) idle() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return services.DefaultIdleTimeout
}

// debug logs refused input at DEBUG, at most once per second.
func (s *Service) debug(msg string, from addr.Addr, err error) {
	if s.Logger != nil && s.limiter.Allow(time.Now(), time.Second) {
		s.Logger.Debug(msg, "peer", from.String(), "err", err)
	}
}

// Serve handles the frames of one connection from the peer from, in
// order, until EOF, then closes conn. It returns nil at a clean EOF, else
// the error that ended the connection (ctx.Err() when ctx ended).
func (s *Service) Serve(ctx context.Context, conn net.Conn, from addr.Addr) error {
	defer conn.Close()
	stop := services.CloseOnDone(ctx, conn)
	defer stop()
	idle := s.idle()
	r := services.IdleReader(conn, idle)
	for {
		f, err := task.ReadFrame(r)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.debug("task frame unreadable", from, err)
			return err
		}
		if err := s.handle(ctx, conn, f, from, idle); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// handle processes one frame; an error closes the connection.
func (s *Service) handle(ctx context.Context, conn net.Conn, f task.Frame, from addr.Addr, idle time.Duration) error {
	switch f.Type {
	case task.TypeSubmit:
		m, err := task.ParseSubmit(f.Payload)
		if err != nil {
			s.debug("task SUBMIT refused", from, err)
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return reply(conn, s.Submit(ctx, m, from), idle)
	case task.TypeStatusUpdate:
		m, err := task.ParseStatusUpdate(f.Payload)
		if err != nil {
			s.debug("task STATUS_UPDATE refused", from, err)
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if err := s.StatusUpdate(m, from); err != nil {
			s.debug("task STATUS_UPDATE not stored", from, err)
		}
	case task.TypeSendResults:
		m, err := task.ParseResults(f.Payload)
		if err != nil {
			s.debug("task SEND_RESULTS refused", from, err)
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if err := s.Results(ctx, m, from); err != nil {
			s.debug("task SEND_RESULTS not stored", from, err)
		}
	default:
		s.debug("task frame discarded", from, fmt.Errorf("type %s, %d bytes", f.Type, len(f.Payload)))
	}
	return nil
}

// reply writes the type-1 answer to a SUBMIT.
func reply(conn net.Conn, r task.SubmitReply, idle time.Duration) error {
	f, err := r.Frame()
	if err != nil {
		return err
	}
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	return services.WriteAll(conn, b, idle)
}

// Submit checks and stores a SUBMIT from the peer from and returns the
// reply (see the package doc for the checks).
func (s *Service) Submit(ctx context.Context, m task.Submit, from addr.Addr) task.SubmitReply {
	refuse := func(msg string) task.SubmitReply {
		return task.SubmitReply{TaskID: m.TaskID, Status: task.StatusRefused, Message: msg}
	}
	if s.Registry == nil || !s.Registry.Available() {
		return refuse(MsgRegistryUnavailable)
	}
	if !task.ValidTaskID(m.TaskID) {
		return refuse(MsgInvalidTaskID)
	}
	if m.FromAddr != "" {
		claimed, err := addr.Parse(m.FromAddr)
		if err != nil || claimed.Node != from.Node {
			return refuse(MsgFromMismatch)
		}
	}
	score, err := s.Registry.PoloScore(ctx, from.Node)
	if err != nil {
		s.debug("task submitter polo score unavailable", from, err)
		return refuse(MsgRegistryUnavailable)
	}
	if score < s.MinSubmitterScore {
		return refuse(fmt.Sprintf("Polo score %d below the required %d", score, s.MinSubmitterScore))
	}
	s.mu.Lock()
	_, err = s.updateLocked(ReceivedDir, from, m.TaskID, func(r *Record) error {
		if r.Submission != nil {
			return errDuplicate
		}
		r.Submission = s.submission(m)
		return nil
	})
	s.mu.Unlock()
	switch {
	case errors.Is(err, errDuplicate):
		return refuse(MsgDuplicate)
	case err != nil:
		if s.Logger != nil {
			s.Logger.Warn("task could not be stored", "task_id", m.TaskID, "err", err)
		}
		return refuse(MsgStoreFailed)
	}
	return task.SubmitReply{TaskID: m.TaskID, Status: task.StatusAccepted, Message: MsgAccepted}
}

func (s *Service) submission(m task.Submit) *Submission {
	return &Submission{At: s.stamp(), TaskDescription: m.TaskDescription, FromAddr: m.FromAddr, ToAddr: m.ToAddr}
}

func (s *Service) stamp() string { return s.now().UTC().Format(time.RFC3339Nano) }

// RecordSubmitted records that this node submitted m to the executor to
// and got it accepted, so that the executor's results can earn it
// RewardDelta. It fails for an invalid task ID or a task already
// recorded.
func (s *Service) RecordSubmitted(to addr.Addr, m task.Submit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.updateLocked(SubmittedDir, to, m.TaskID, func(r *Record) error {
		if r.Submission != nil {
			return errDuplicate
		}
		r.Submission = s.submission(m)
		return nil
	})
	return err
}

// StatusUpdate stores a STATUS_UPDATE from the executor from.
func (s *Service) StatusUpdate(m task.StatusUpdate, from addr.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.updateLocked(SubmittedDir, from, m.TaskID, func(r *Record) error {
		if len(r.Updates) >= MaxUpdates {
			return fmt.Errorf("%w: %d status updates", errFull, len(r.Updates))
		}
		r.Updates = append(r.Updates, UpdateEntry{ReceivedAt: s.stamp(), Status: string(m.Status), Justification: m.Justification})
		return nil
	})
	return err
}

// Results stores a SEND_RESULTS from the executor from and, for the first
// results of a task recorded by RecordSubmitted, rewards the executor.
func (s *Service) Results(ctx context.Context, m task.Results, from addr.Addr) error {
	s.mu.Lock()
	reward := false
	_, err := s.updateLocked(SubmittedDir, from, m.TaskID, func(r *Record) error {
		n := len(r.Results)
		if n >= MaxResults {
			return fmt.Errorf("%w: %d results", errFull, n)
		}
		e := ResultEntry{ReceivedAt: s.stamp(), ResultType: m.ResultType, ResultText: m.ResultText,
			Filename: m.Filename, CompletedAt: m.CompletedAt, TimeIdleMs: m.TimeIdleMs,
			TimeStagedMs: m.TimeStagedMs, TimeCPUMs: m.TimeCPUMs}
		if len(m.FileData) > 0 || m.Filename != "" {
			rel, err := s.storeResultFile(from.Node, m.TaskID, n, m.Filename, m.FileData)
			if err != nil {
				return err
			}
			e.StoredFile, e.FileBytes = rel, len(m.FileData)
		}
		r.Results = append(r.Results, e)
		// Claim the reward before asking the registry, so that concurrent
		// results cannot both earn it; released again on failure.
		if r.Submission != nil && !r.Rewarded {
			r.Rewarded, reward = true, true
		}
		return nil
	})
	s.mu.Unlock()
	if err != nil || !reward {
		return err
	}
	return s.reward(ctx, m.TaskID, from)
}

// reward raises the executor's polo score; when the registry cannot do
// it, the task's claim on the reward is released.
func (s *Service) reward(ctx context.Context, id string, executor addr.Addr) error {
	var err error
	if s.Registry == nil || !s.Registry.Available() {
		err = errors.New("registry unavailable")
	} else {
		err = s.Registry.UpdatePoloScore(ctx, executor.Node, RewardDelta)
	}
	if err == nil {
		return nil
	}
	s.mu.Lock()
	_, uerr := s.updateLocked(SubmittedDir, executor, id, func(r *Record) error {
		r.Rewarded = false
		return nil
	})
	s.mu.Unlock()
	if errors.Is(err, ErrNoAdminToken) {
		return uerr // expected on a daemon without -admin-token
	}
	return errors.Join(fmt.Errorf("polo score not updated: %w", err), uerr)
}
