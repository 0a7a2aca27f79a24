package handlers

import (
	"errors"

	"github.com/pilot-go/pilot/internal/registry/store"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// route runs the message's own steps (§6.4 steps 4–7 and the effects).
func (c *call) route() (regmsg.Reply, error) {
	switch r := c.req.(type) {
	case *regmsg.Register:
		return c.register(r)
	case *regmsg.Heartbeat:
		return c.heartbeat(r)
	case *regmsg.Deregister:
		return c.deregister(r)
	case *regmsg.Lookup:
		return c.lookup(r)
	case *regmsg.Resolve:
		return c.resolve(r)
	case *regmsg.Punch:
		return c.punch(r)
	case *regmsg.RotateKey:
		return c.rotateKey(r)
	case *regmsg.SetKeyExpiry:
		return c.setKeyExpiry(r)
	case *regmsg.GetKeyInfo:
		return c.getKeyInfo(r)
	case *regmsg.ReassignKey:
		return c.reassignKey(r)
	case *regmsg.SetVisibility:
		return c.setVisibility(r)
	case *regmsg.SetHostname:
		return c.setHostname(r)
	case *regmsg.SetTags:
		return c.setTags(r)
	case *regmsg.SetTaskExec:
		return c.setTaskExec(r)
	case *regmsg.ResolveHostname:
		return c.resolveHostname(r)
	case *regmsg.ReportTrust:
		return c.reportTrust(r)
	case *regmsg.RevokeTrust:
		return c.revokeTrust(r)
	case *regmsg.CheckTrust:
		return c.checkTrust(r)
	case *regmsg.RequestHandshake:
		return c.requestHandshake(r)
	case *regmsg.PollHandshakes:
		return c.pollHandshakes(r)
	case *regmsg.RespondHandshake:
		return c.respondHandshake(r)
	case *regmsg.CreateNetwork:
		return c.createNetwork(r)
	case *regmsg.JoinNetwork:
		return c.joinNetwork(r)
	case *regmsg.LeaveNetwork:
		return c.leaveNetwork(r)
	case *regmsg.DeleteNetwork:
		return c.deleteNetwork(r)
	case *regmsg.RenameNetwork:
		return c.renameNetwork(r)
	case *regmsg.ListNetworks:
		return c.listNetworks(r)
	case *regmsg.ListNodes:
		return c.listNodes(r)
	case *regmsg.KickMember:
		return c.kickMember(r)
	case *regmsg.PromoteMember:
		return c.promoteMember(r)
	case *regmsg.DemoteMember:
		return c.demoteMember(r)
	case *regmsg.GetMemberRole:
		return c.getMemberRole(r)
	case *regmsg.TransferOwnership:
		return c.transferOwnership(r)
	case *regmsg.SetNetworkPolicy:
		return c.setNetworkPolicy(r)
	case *regmsg.GetNetworkPolicy:
		return c.getNetworkPolicy(r)
	case *regmsg.InviteToNetwork:
		return c.inviteToNetwork(r)
	case *regmsg.PollInvites:
		return c.pollInvites(r)
	case *regmsg.RespondInvite:
		return c.respondInvite(r)
	case *regmsg.GetAuditLog:
		return c.getAuditLog(r)
	case *regmsg.GetPoloScore:
		return c.getPoloScore(r)
	case *regmsg.UpdatePoloScore:
		return c.updatePoloScore(r)
	case *regmsg.SetPoloScore:
		return c.setPoloScore(r)
	case *regmsg.BeaconRegister:
		return c.beaconRegister(r)
	case *regmsg.BeaconList:
		return c.beaconList(r)
	}
	return nil, invalid("unsupported message type %q", c.typ)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
