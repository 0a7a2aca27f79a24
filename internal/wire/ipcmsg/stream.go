package ipcmsg

import (
	"github.com/pilot-go/pilot/addr"
)

// Send (0x06): u32 conn ID ‖ data. Empty data is a no-op (ipc.md §5.4).
type Send struct {
	Conn ConnID
	Data []byte
}

func (Send) Cmd() Cmd { return CmdSend }

// AppendTo appends 06 ‖ conn ‖ data.
func (m Send) AppendTo(b []byte) []byte {
	return append(appendU32(append(b, byte(CmdSend)), uint32(m.Conn)), m.Data...)
}

// Decode parses the payload after the command byte.
func (m *Send) Decode(p []byte) error {
	if len(p) < 4 {
		return shortErr("send: missing conn_id")
	}
	m.Conn, m.Data = ConnID(be32(p)), tail(p, 4)
	return nil
}

// Recv (0x07, unsolicited): u32 conn ID ‖ 1..MaxRecvData data bytes (ipc.md §5.5).
type Recv struct {
	Conn ConnID
	Data []byte
}

func (Recv) Cmd() Cmd { return CmdRecv }

// AppendTo appends 07 ‖ conn ‖ data.
func (m Recv) AppendTo(b []byte) []byte {
	return append(appendU32(append(b, byte(CmdRecv)), uint32(m.Conn)), m.Data...)
}

// Decode parses the payload after the command byte; the data must hold 1 to
// MaxRecvData bytes.
func (m *Recv) Decode(p []byte) error {
	if len(p) < 5 {
		return shortErr("recv: missing conn_id or data")
	}
	if len(p)-4 > MaxRecvData {
		return invalidErr("recv: %d data bytes exceed the maximum of %d", len(p)-4, MaxRecvData)
	}
	m.Conn, m.Data = ConnID(be32(p)), tail(p, 4)
	return nil
}

// SendTo (0x0B): addr6 ‖ u16 dst port ‖ data (ipc.md §5.7). Node
// 0xFFFFFFFF in a network other than 0 broadcasts.
type SendTo struct {
	Addr addr.Addr
	Port addr.Port
	Data []byte
}

func (SendTo) Cmd() Cmd { return CmdSendTo }

// AppendTo appends 0B ‖ addr6 ‖ port ‖ data.
func (m SendTo) AppendTo(b []byte) []byte {
	b = m.Addr.AppendBinary(append(b, byte(CmdSendTo)))
	return append(appendU16(b, uint16(m.Port)), m.Data...)
}

// Decode parses the payload after the command byte. Empty or oversized data
// is the daemon's to refuse (its texts depend on the send path).
func (m *SendTo) Decode(p []byte) error {
	if len(p) < 8 {
		return shortErr("sendto: missing address/port")
	}
	m.Addr, m.Port, m.Data = addrAt(p), addr.Port(be16(p[6:])), tail(p, 8)
	return nil
}

// SendToFrom (0x4D): addr6 ‖ u16 dst port ‖ u16 src port ‖ data (ipc.md §10.9).
type SendToFrom struct {
	Addr    addr.Addr
	DstPort addr.Port
	SrcPort addr.Port
	Data    []byte
}

func (SendToFrom) Cmd() Cmd { return CmdSendToFrom }

// AppendTo appends 4D ‖ addr6 ‖ dst port ‖ src port ‖ data.
func (m SendToFrom) AppendTo(b []byte) []byte {
	b = m.Addr.AppendBinary(append(b, byte(CmdSendToFrom)))
	b = appendU16(appendU16(b, uint16(m.DstPort)), uint16(m.SrcPort))
	return append(b, m.Data...)
}

// Decode parses the payload after the command byte.
func (m *SendToFrom) Decode(p []byte) error {
	if len(p) < 10 {
		return shortErr("sendto: missing address/ports")
	}
	m.Addr, m.DstPort, m.SrcPort = addrAt(p), addr.Port(be16(p[6:])), addr.Port(be16(p[8:]))
	m.Data = tail(p, 10)
	return nil
}

// RecvFrom (0x0C, unsolicited): addr6 src ‖ u16 src port ‖ u16 dst port ‖
// data (ipc.md §5.8).
type RecvFrom struct {
	Src     addr.Addr
	SrcPort addr.Port
	DstPort addr.Port
	Data    []byte
}

func (RecvFrom) Cmd() Cmd { return CmdRecvFrom }

// AppendTo appends 0C ‖ addr6 ‖ src port ‖ dst port ‖ data.
func (m RecvFrom) AppendTo(b []byte) []byte {
	b = m.Src.AppendBinary(append(b, byte(CmdRecvFrom)))
	b = appendU16(appendU16(b, uint16(m.SrcPort)), uint16(m.DstPort))
	return append(b, m.Data...)
}

// Decode parses the payload after the command byte.
func (m *RecvFrom) Decode(p []byte) error {
	if len(p) < 10 {
		return shortErr("recvfrom: missing address/ports")
	}
	m.Src, m.SrcPort, m.DstPort = addrAt(p), addr.Port(be16(p[6:])), addr.Port(be16(p[8:]))
	m.Data = tail(p, 10)
	return nil
}

// ConnOption names a ConnOpt option (ipc.md §10.8).
type ConnOption uint8

// OptNagle: value u8, 0 off, 1 on.
const OptNagle ConnOption = 1

// ConnOpt (0x4B): u32 conn ID ‖ u8 option ‖ value. The value's layout
// depends on the option, so it is kept raw; the daemon checks ownership
// first (Error 3) and then the option (Error 2 "unknown option N").
type ConnOpt struct {
	Conn   ConnID
	Option ConnOption
	Value  []byte
}

// ConnOptOK (0x4C) echoes ConnOpt with the value now in effect.
type ConnOptOK ConnOpt

func (ConnOpt) Cmd() Cmd   { return CmdConnOpt }
func (ConnOptOK) Cmd() Cmd { return CmdConnOptOK }

func appendConnOpt(b []byte, c Cmd, m ConnOpt) []byte {
	b = appendU32(append(b, byte(c)), uint32(m.Conn))
	return append(append(b, byte(m.Option)), m.Value...)
}

func decodeConnOpt(p []byte, text string) (ConnOpt, error) {
	if len(p) < 5 {
		return ConnOpt{}, shortErr(text)
	}
	return ConnOpt{Conn: ConnID(be32(p)), Option: ConnOption(p[4]), Value: tail(p, 5)}, nil
}

// AppendTo appends 4B ‖ conn ‖ option ‖ value.
func (m ConnOpt) AppendTo(b []byte) []byte { return appendConnOpt(b, CmdConnOpt, m) }

// AppendTo appends 4C ‖ conn ‖ option ‖ value.
func (m ConnOptOK) AppendTo(b []byte) []byte { return appendConnOpt(b, CmdConnOptOK, ConnOpt(m)) }

// Decode parses the payload after the command byte.
func (m *ConnOpt) Decode(p []byte) (err error) {
	*m, err = decodeConnOpt(p, "connopt: missing conn_id or option")
	return
}

// Decode parses the payload after the command byte.
func (m *ConnOptOK) Decode(p []byte) error {
	o, err := decodeConnOpt(p, "connoptok: missing conn_id or option")
	*m = ConnOptOK(o)
	return err
}

// Nagle returns the value of an OptNagle option (false for 0, true for 1).
func (m ConnOpt) Nagle() (bool, error) {
	if len(m.Value) < 1 || m.Value[0] > 1 {
		return false, invalidErr("connopt: option %d needs a value of 0 or 1", uint8(OptNagle))
	}
	return m.Value[0] == 1, nil
}

// CloseReason is the u8 reason of ConnClosed (ipc.md §10.7).
type CloseReason uint8

// Close reasons. Reason 1 ("closed locally") is never sent.
const (
	ReasonPeerClosed   CloseReason = 0
	ReasonReset        CloseReason = 2
	ReasonTimeout      CloseReason = 3
	ReasonIdle         CloseReason = 4
	ReasonDataLost     CloseReason = 5
	ReasonShutdown     CloseReason = 6
	ReasonTrustRevoked CloseReason = 7
	ReasonOther        CloseReason = 255
)

// ConnClosed (0x47, unsolicited): u32 conn ID ‖ u8 reason ‖ UTF-8 detail.
type ConnClosed struct {
	Conn   ConnID
	Reason CloseReason
	Detail string
}

func (ConnClosed) Cmd() Cmd { return CmdConnClosed }

// AppendTo appends 47 ‖ conn ‖ reason ‖ detail.
func (m ConnClosed) AppendTo(b []byte) []byte {
	b = appendU32(append(b, byte(CmdConnClosed)), uint32(m.Conn))
	return append(append(b, byte(m.Reason)), m.Detail...)
}

// Decode parses the payload after the command byte.
func (m *ConnClosed) Decode(p []byte) error {
	if len(p) < 5 {
		return shortErr("connclosed: missing conn_id or reason")
	}
	m.Conn, m.Reason, m.Detail = ConnID(be32(p)), CloseReason(p[4]), string(p[5:])
	return nil
}

// OK (0x46): empty success reply, only inside a TaggedReply.
type OK struct{}

func (OK) Cmd() Cmd                     { return CmdOK }
func (OK) AppendTo(b []byte) []byte     { return append(b, byte(CmdOK)) }
func (*OK) Decode(payload []byte) error { return nil }
