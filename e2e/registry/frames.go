package registrye2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pilot-go/pilot/addr"
	"github.com/pilot-go/pilot/internal/identity"
	"github.com/pilot-go/pilot/internal/regclient"
	"github.com/pilot-go/pilot/internal/wire/regmsg"
)

// Sign fills ts, nonce and signature of req (auth v2, registry.md §5.1)
// with id at time now, using nonce source rnd (nil = crypto/rand). For
// register and reassign_key, id is the carried key (signer 0).
func Sign(req regmsg.Request, id *identity.Identity, now time.Time, rnd io.Reader) {
	a := req.AuthFields()
	ts := now.UnixMilli()
	nonce := identity.NewNonce(rnd)
	a.TS, a.Nonce = &ts, &nonce
	sig := id.SignBase64(regmsg.CanonicalV2(req))
	a.Signature = &sig
}

// Frame encodes req as one request frame ([u32 BE length][JSON body]).
func Frame(req regmsg.Request) ([]byte, error) {
	body, err := regmsg.MarshalRequest(req)
	if err != nil {
		return nil, err
	}
	return regmsg.AppendFrame(make([]byte, 0, regmsg.FrameHeaderLen+len(body)), body)
}

// SignedFrame signs req with id now and encodes it as a frame.
func SignedFrame(req regmsg.Request, id *identity.Identity) ([]byte, error) {
	Sign(req, id, time.Now(), nil)
	return Frame(req)
}

// Reply is one decoded reply frame.
type Reply struct {
	Type string // "<type>_ok" or "error"
	Code regmsg.Code
	Msg  string
	Body []byte
}

// ParseReply decodes a reply body.
func ParseReply(body []byte) (Reply, error) {
	r := Reply{Body: body}
	typ, _, err := regmsg.DecodeReply(body)
	if err != nil {
		var re *regmsg.Error
		if errors.As(err, &re) {
			r.Type, r.Code, r.Msg = "error", re.Code, re.Message
			return r, nil
		}
		return r, err
	}
	r.Type = typ
	return r, nil
}

// Exchange dials addr, writes frames (pipelined, in one write), reads one
// reply per frame and closes. It fails if a reply is missing or broken.
func Exchange(ctx context.Context, address string, frames ...[]byte) ([]Reply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	var all []byte
	for _, f := range frames {
		all = append(all, f...)
	}
	if _, err := c.Write(all); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	out := make([]Reply, 0, len(frames))
	for i := range frames {
		body, err := regmsg.ReadFrame(br, nil)
		if err != nil {
			return out, fmt.Errorf("reply %d of %d: %w", i+1, len(frames), err)
		}
		r, err := ParseReply(body)
		if err != nil {
			return out, fmt.Errorf("reply %d of %d: %w (%.200q)", i+1, len(frames), err, body)
		}
		out = append(out, r)
	}
	return out, nil
}

// NewClient returns a regclient for address speaking auth v2, anonymous
// until a node is registered or SignWith is used.
func NewClient(address string, timeout time.Duration) (*regclient.Client, error) {
	return regclient.New(regclient.Config{Addr: address, AuthMode: regclient.AuthV2, Timeout: timeout})
}

// Node is a registered node and its key.
type Node struct {
	ID  addr.NodeID
	Key *identity.Identity
}

// RegisterNode registers id through c (signed with id, v2 proof of
// possession) and returns the node.
func RegisterNode(ctx context.Context, c *regclient.Client, id *identity.Identity, hostname string) (Node, error) {
	var rep regmsg.RegisterOK
	req := &regmsg.Register{PublicKey: id.PublicKeyBase64(), Hostname: hostname}
	if err := c.Call(ctx, req, &rep, regclient.SignWith(id)); err != nil {
		return Node{}, err
	}
	return Node{ID: rep.NodeID, Key: id}, nil
}

// AuditHead returns the newest audit entry's seq and hash (0, "" for an
// empty chain), read with the global admin token.
func AuditHead(ctx context.Context, c *regclient.Client, adminToken string) (uint64, string, error) {
	var rep regmsg.GetAuditLogOK
	req := &regmsg.GetAuditLog{Page: regmsg.Page{Limit: 1}}
	if err := c.Call(ctx, req, &rep, regclient.Unsigned(), regclient.WithAdminToken(adminToken)); err != nil {
		return 0, "", err
	}
	if len(rep.Entries) == 0 {
		return 0, "", nil
	}
	return rep.Entries[0].Seq, rep.Entries[0].Hash, nil
}

// CodeOf returns the registry error code of err ("" when err is nil or
// not an error reply).
func CodeOf(err error) regmsg.Code {
	var re *regmsg.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// IsTransport reports whether err means the outcome is unknown (the
// registry could not be reached, or the reply was lost).
func IsTransport(err error) bool {
	return errors.Is(err, regclient.ErrTransport) || errors.Is(err, context.DeadlineExceeded)
}
