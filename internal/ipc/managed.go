package ipc

import (
	"encoding/json"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// managedReply answers Managed (0x23) as an original daemon without an
// engine would (ipc.md §5.20). Our daemon implements no managed networks,
// so the server answers it itself and the Backend never sees it.
func managedReply(m ipcmsg.Managed) ipcmsg.Reply {
	precond := func(format string, args ...any) ipcmsg.Reply {
		return errorReply(Errorf(ipcmsg.CodeFailedPrecondition, format, args...))
	}
	switch m.Sub {
	case ipcmsg.ManagedScore:
		return precond("managed: no engine for network %d", m.Network)
	case ipcmsg.ManagedStatus, ipcmsg.ManagedRankings, ipcmsg.ManagedCycle:
		return precond("managed: no active managed networks")
	case ipcmsg.ManagedPolicy:
		if m.Action == ipcmsg.ManagedSet {
			return precond("managed policy set: expression policies are not supported")
		}
		return jsonReply(ipcmsg.ManagedPolicyReply{
			Type: ipcmsg.ManagedPolicyOKType, NetworkID: m.Network, Engine: ipcmsg.ManagedEngineNone,
		}, nil, func(body json.RawMessage) ipcmsg.Reply { return ipcmsg.ManagedOK{Body: body} })
	case ipcmsg.ManagedMemberTags:
		if m.Action == ipcmsg.ManagedGet {
			return precond("member-tags get: not supported")
		}
		return precond("member-tags set: not supported")
	}
	return errorReply(Errorf(ipcmsg.CodeInvalidArgument, "managed: unknown sub-command 0x%02X", uint8(m.Sub)))
}
