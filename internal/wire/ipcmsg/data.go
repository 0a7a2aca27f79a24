package ipcmsg

import (
	"encoding/binary"

	"github.com/pilot-go/pilot/addr"
)

// ConnID identifies a stream connection of the daemon (u32).
type ConnID uint32

// Size limits of ipc.md §5.5 and §5.7.
const (
	// MaxRecvData is the most data one Recv carries.
	MaxRecvData = 65536
	// MaxDatagramPayload is the largest SendTo payload the daemon accepts.
	MaxDatagramPayload = 65428
)

// tail returns p[n:], or nil when that is empty, so that decoded messages
// compare equal after a round trip.
func tail(p []byte, n int) []byte {
	if len(p) <= n {
		return nil
	}
	return p[n:]
}

func be16(p []byte) uint16 { return binary.BigEndian.Uint16(p) }
func be32(p []byte) uint32 { return binary.BigEndian.Uint32(p) }

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func addrAt(p []byte) addr.Addr {
	return addr.New(addr.NetworkID(be16(p)), addr.NodeID(be32(p[2:])))
}

// Bind (0x01): u16 port. Port 0 asks for an ephemeral port (ipc.md §5.1).
type Bind struct{ Port addr.Port }

// BindOK (0x02): u16 port.
type BindOK struct{ Port addr.Port }

// Unbind (0x48): u16 port (ipc.md §10.5).
type Unbind struct{ Port addr.Port }

// UnbindOK (0x49): u16 port.
type UnbindOK struct{ Port addr.Port }

func (Bind) Cmd() Cmd     { return CmdBind }
func (BindOK) Cmd() Cmd   { return CmdBindOK }
func (Unbind) Cmd() Cmd   { return CmdUnbind }
func (UnbindOK) Cmd() Cmd { return CmdUnbindOK }

func (m Bind) AppendTo(b []byte) []byte { return appendU16(append(b, byte(CmdBind)), uint16(m.Port)) }
func (m BindOK) AppendTo(b []byte) []byte {
	return appendU16(append(b, byte(CmdBindOK)), uint16(m.Port))
}
func (m Unbind) AppendTo(b []byte) []byte {
	return appendU16(append(b, byte(CmdUnbind)), uint16(m.Port))
}
func (m UnbindOK) AppendTo(b []byte) []byte {
	return appendU16(append(b, byte(CmdUnbindOK)), uint16(m.Port))
}

func decodePort(p []byte, text string) (addr.Port, error) {
	if len(p) < 2 {
		return 0, shortErr(text)
	}
	return addr.Port(be16(p)), nil
}

// Decode parses the payload after the command byte.
func (m *Bind) Decode(p []byte) (err error) {
	m.Port, err = decodePort(p, "bind: missing port")
	return
}

// Decode parses the payload after the command byte.
func (m *BindOK) Decode(p []byte) (err error) {
	m.Port, err = decodePort(p, "bindok: missing port")
	return
}

// Decode parses the payload after the command byte.
func (m *Unbind) Decode(p []byte) (err error) {
	m.Port, err = decodePort(p, "unbind: missing port")
	return
}

// Decode parses the payload after the command byte.
func (m *UnbindOK) Decode(p []byte) (err error) {
	m.Port, err = decodePort(p, "unbindok: missing port")
	return
}

// Dial (0x03): addr6 ‖ u16 port (ipc.md §5.2).
type Dial struct {
	Addr addr.Addr
	Port addr.Port
}

func (Dial) Cmd() Cmd { return CmdDial }

// AppendTo appends 03 ‖ addr6 ‖ port.
func (m Dial) AppendTo(b []byte) []byte {
	b = m.Addr.AppendBinary(append(b, byte(CmdDial)))
	return appendU16(b, uint16(m.Port))
}

// Decode parses the payload after the command byte.
func (m *Dial) Decode(p []byte) error {
	if len(p) < addr.Size+2 {
		return shortErr("dial: missing address/port")
	}
	m.Addr, m.Port = addrAt(p), addr.Port(be16(p[6:]))
	return nil
}

// DialFlags are the flags of DialEx.
type DialFlags uint8

// DialNagle enables Nagle's algorithm on the new connection. Other bits are reserved.
const DialNagle DialFlags = 0x01

// MaxDialTimeoutMillis is the largest DialEx timeout (ipc.md §10.6).
const MaxDialTimeoutMillis = 300000

// DialEx (0x4A): addr6 ‖ u16 port ‖ u32 timeout ms ‖ u8 flags (ipc.md §10.6).
// TimeoutMillis 0 means the daemon's -dial-timeout.
type DialEx struct {
	Addr          addr.Addr
	Port          addr.Port
	TimeoutMillis uint32
	Flags         DialFlags
}

func (DialEx) Cmd() Cmd { return CmdDialEx }

// AppendTo appends 4A ‖ addr6 ‖ port ‖ timeout ‖ flags.
func (m DialEx) AppendTo(b []byte) []byte {
	b = m.Addr.AppendBinary(append(b, byte(CmdDialEx)))
	b = appendU16(b, uint16(m.Port))
	b = appendU32(b, m.TimeoutMillis)
	return append(b, byte(m.Flags))
}

// Decode parses the payload after the command byte. A timeout above
// MaxDialTimeoutMillis or a reserved flag bit is an invalid_argument error.
func (m *DialEx) Decode(p []byte) error {
	if len(p) < 13 {
		return shortErr("dialex: short payload")
	}
	m.Addr, m.Port = addrAt(p), addr.Port(be16(p[6:]))
	m.TimeoutMillis, m.Flags = be32(p[8:]), DialFlags(p[12])
	if m.TimeoutMillis > MaxDialTimeoutMillis {
		return invalidErr("dialex: timeout %d ms exceeds the maximum of %d ms", m.TimeoutMillis, MaxDialTimeoutMillis)
	}
	if m.Flags&^DialNagle != 0 {
		return invalidErr("dialex: reserved flag bits set: 0x%02X", uint8(m.Flags))
	}
	return nil
}

// DialOK (0x04): u32 conn ID.
type DialOK struct{ Conn ConnID }

// Close (0x08): u32 conn ID.
type Close struct{ Conn ConnID }

// CloseOK (0x09): u32 conn ID; a reply, or unsolicited end of stream.
type CloseOK struct{ Conn ConnID }

func (DialOK) Cmd() Cmd  { return CmdDialOK }
func (Close) Cmd() Cmd   { return CmdClose }
func (CloseOK) Cmd() Cmd { return CmdCloseOK }

func (m DialOK) AppendTo(b []byte) []byte {
	return appendU32(append(b, byte(CmdDialOK)), uint32(m.Conn))
}
func (m Close) AppendTo(b []byte) []byte { return appendU32(append(b, byte(CmdClose)), uint32(m.Conn)) }
func (m CloseOK) AppendTo(b []byte) []byte {
	return appendU32(append(b, byte(CmdCloseOK)), uint32(m.Conn))
}

func decodeConn(p []byte, text string) (ConnID, error) {
	if len(p) < 4 {
		return 0, shortErr(text)
	}
	return ConnID(be32(p)), nil
}

// Decode parses the payload after the command byte.
func (m *DialOK) Decode(p []byte) (err error) {
	m.Conn, err = decodeConn(p, "dialok: missing conn_id")
	return
}

// Decode parses the payload after the command byte.
func (m *Close) Decode(p []byte) (err error) {
	m.Conn, err = decodeConn(p, "close: missing conn_id")
	return
}

// Decode parses the payload after the command byte.
func (m *CloseOK) Decode(p []byte) (err error) {
	m.Conn, err = decodeConn(p, "closeok: missing conn_id")
	return
}

// Accept (0x05, unsolicited): u16 local port ‖ u32 conn ID ‖ addr6 remote ‖
// u16 remote port, 12 bytes (ipc.md §5.3).
type Accept struct {
	LocalPort  addr.Port
	Conn       ConnID
	Remote     addr.Addr
	RemotePort addr.Port
}

func (Accept) Cmd() Cmd { return CmdAccept }

// AppendTo appends 05 ‖ the 12-byte payload.
func (m Accept) AppendTo(b []byte) []byte {
	b = appendU16(append(b, byte(CmdAccept)), uint16(m.LocalPort))
	b = appendU32(b, uint32(m.Conn))
	b = m.Remote.AppendBinary(b)
	return appendU16(b, uint16(m.RemotePort))
}

// Decode parses the payload after the command byte.
func (m *Accept) Decode(p []byte) error {
	if len(p) < 14 {
		return shortErr("accept: short payload")
	}
	m.LocalPort, m.Conn = addr.Port(be16(p)), ConnID(be32(p[2:]))
	m.Remote, m.RemotePort = addrAt(p[6:]), addr.Port(be16(p[12:]))
	return nil
}
