package ipcmsg

import (
	"errors"
	"strings"
	"testing"
)

// TestIPC_ShortPayloadErrorTexts checks the exact Error texts of ipc.md §5
// and §10 for payloads shorter than their command needs, and the
// unknown-command text of §2.
func TestIPC_ShortPayloadErrorTexts(t *testing.T) {
	elevenTags := jx(`["1","2","3","4","5","6","7","8","9","10","11"]`)
	cases := []struct {
		hex, text string
		sentinel  error
	}{
		{"01", "bind: missing port", ErrShortPayload},
		{"01 00", "bind: missing port", ErrShortPayload},
		{"03 0001 000002ae 00", "dial: missing address/port", ErrShortPayload},
		{"03", "dial: missing address/port", ErrShortPayload},
		{"06 000000", "send: missing conn_id", ErrShortPayload},
		{"08", "close: missing conn_id", ErrShortPayload},
		{"08 000000", "close: missing conn_id", ErrShortPayload},
		{"0b 0001 000002ae 00", "sendto: missing address/port", ErrShortPayload},
		{"0f", "handshake: missing sub-command", ErrShortPayload},
		{"0f 07", "handshake: unknown sub-command 0x07", ErrUnknownSubCommand},
		{"0f 00", "handshake: unknown sub-command 0x00", ErrUnknownSubCommand},
		{"0f ab", "handshake: unknown sub-command 0xAB", ErrUnknownSubCommand},
		{"0f 01 000002", "handshake request: missing node_id", ErrShortPayload},
		{"0f 02", "handshake approve: missing node_id", ErrShortPayload},
		{"0f 03 00", "handshake reject: missing node_id", ErrShortPayload},
		{"0f 06 000000", "handshake revoke: missing node_id", ErrShortPayload},
		{"11", "resolve_hostname: missing hostname", ErrShortPayload},
		{"15", "set_visibility: missing value", ErrShortPayload},
		{"1d", "set_task_exec: missing value", ErrShortPayload},
		{"19" + elevenTags, "set_tags: maximum 10 tags allowed", ErrInvalidPayload},
		{"1f", "network: missing sub-command", ErrShortPayload},
		{"1f 08", "network: unknown sub-command 0x08", ErrUnknownSubCommand},
		{"1f 00", "network: unknown sub-command 0x00", ErrUnknownSubCommand},
		{"1f 02 00", "network join: missing network_id", ErrShortPayload},
		{"1f 03", "network leave: missing network_id", ErrShortPayload},
		{"1f 04 01", "network members: missing network_id", ErrShortPayload},
		{"1f 05 0001 000002", "network invite: missing network_id or target_node_id", ErrShortPayload},
		{"1f 07 0001", "network respond-invite: missing network_id or accept flag", ErrShortPayload},
		{"23", "managed: missing sub-command", ErrShortPayload},
		{"23 07", "managed: unknown sub-command 0x07", ErrUnknownSubCommand},
		{"23 01 0001 000002ae 000000", "managed score: missing fields (need netID + nodeID + delta)", ErrShortPayload},
		{"23 05 00 00", "managed policy: missing sub-sub-command and network_id", ErrShortPayload},
		{"23 05 02 0001", "managed policy: unknown action 0x02", ErrUnknownSubCommand},
		{"23 06 00 0001 000002", "managed member-tags: missing action, network_id, or node_id", ErrShortPayload},
		{"4a 0001 000002ae 0007 00001388", "dialex: short payload", ErrShortPayload},
		{"4a 0001 000002ae 0007 00001388 02", "dialex: reserved flag bits set: 0x02", ErrInvalidPayload},
		{"4a 0001 000002ae 0007 000493e1 00", "dialex: timeout 300001 ms exceeds the maximum of 300000 ms", ErrInvalidPayload},
		{"48 00", "unbind: missing port", ErrShortPayload},
		{"4b 00000003", "connopt: missing conn_id or option", ErrShortPayload},
		{"4d 0001 000002ae 03ea 00", "sendto: missing address/ports", ErrShortPayload},
		{"40" + jx(`{"op":"nope"}`), `unknown op "nope"`, ErrInvalidPayload},
		{"40" + jx(`{"network_id":1}`), `missing argument "op"`, ErrInvalidPayload},
		{"40" + jx(`{"op":1}`), `argument "op" must be a string`, ErrInvalidPayload},
		{"40" + jx(`{"op":"lookup","admin_token":5}`), `argument "admin_token" must be a string`, ErrInvalidPayload},
		{"25", "unknown command: 0x25", ErrUnknownCommand},
		{"4e", "unknown command: 0x4E", ErrUnknownCommand},
		{"4f 00", "unknown command: 0x4F", ErrUnknownCommand},
		{"ff", "unknown command: 0xFF", ErrUnknownCommand},
		{"00", "unknown command: 0x00", ErrUnknownCommand},
		{"02 0050", "unknown command: 0x02", ErrUnknownCommand}, // a reply byte sent as a request
		{"44 000000", "tagged: missing tag or inner command", ErrShortPayload},
	}
	for _, tc := range cases {
		_, err := DecodeRequest(hx(t, tc.hex))
		if err == nil {
			t.Errorf("%s: accepted", tc.hex)
			continue
		}
		if err.Error() != tc.text {
			t.Errorf("%s: text %q, want %q", tc.hex, err.Error(), tc.text)
		}
		if !errors.Is(err, tc.sentinel) {
			t.Errorf("%s: %v does not wrap %v", tc.hex, err, tc.sentinel)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Code != CodeInvalidArgument || de.Reply().Text != tc.text {
			t.Errorf("%s: want *DecodeError with code 2, got %#v", tc.hex, err)
		}
	}
}

func TestIPC_SetTagsInvalidJSON(t *testing.T) {
	for _, payload := range []string{`{}`, `["a",1]`, `[`, ``, `"a"`} {
		_, err := DecodeRequest(append([]byte{byte(CmdSetTags)}, payload...))
		if err == nil || !strings.HasPrefix(err.Error(), "set_tags: invalid JSON: ") {
			t.Errorf("%q: %v", payload, err)
		}
	}
}

// TestIPC_TaggedInnerErrorKeepsTag: a bad inner request is answered with a
// TaggedReply carrying the same tag and the inner command's Error text.
func TestIPC_TaggedInnerErrorKeepsTag(t *testing.T) {
	cases := []struct{ hex, text string }{
		{"44 00000007 01", "bind: missing port"},
		{"44 00000007 ff", "unknown command: 0xFF"},
		{"44 00000007 02 0050", "unknown command: 0x02"},
		{"44 00000007 42" + jx(`{}`), "tagged: Hello cannot be tagged"},
		{"44 00000007 44 00000008 01 0050", "tagged: Tagged cannot be tagged"},
		{"44 00000007 0f 09", "handshake: unknown sub-command 0x09"},
	}
	for _, tc := range cases {
		_, err := DecodeRequest(hx(t, tc.hex))
		var te *TaggedError
		if !errors.As(err, &te) || te.Tag != 7 || err.Error() != tc.text {
			t.Errorf("%s: got %v (%#v)", tc.hex, err, err)
			continue
		}
		want := TaggedReply{Tag: 7, Inner: Error{Code: CodeInvalidArgument, Text: tc.text}}
		if got := te.Reply(); got != want {
			t.Errorf("%s: reply %#v", tc.hex, got)
		}
	}
}

func TestIPC_RecvDataBounds(t *testing.T) {
	if _, err := DecodeReply(hx(t, "07 00000003")); !errors.Is(err, ErrShortPayload) {
		t.Errorf("empty Recv: %v", err)
	}
	big := append(hx(t, "07 00000003"), make([]byte, MaxRecvData)...)
	if _, err := DecodeReply(big); err != nil {
		t.Errorf("65,536-byte Recv: %v", err)
	}
	if _, err := DecodeReply(append(big, 0)); !errors.Is(err, ErrInvalidPayload) {
		t.Errorf("65,537-byte Recv: %v", err)
	}
}

// TestIPC_ErrorCodes checks the u16 table of ipc.md §4.
func TestIPC_ErrorCodes(t *testing.T) {
	table := []struct {
		code Code
		v    uint16
		name string
	}{
		{CodeInternal, 1, "internal"}, {CodeInvalidArgument, 2, "invalid_argument"},
		{CodeNotFound, 3, "not_found"}, {CodeAlreadyExists, 4, "already_exists"},
		{CodePermissionDenied, 5, "permission_denied"}, {CodeUnauthenticated, 6, "unauthenticated"},
		{CodeFailedPrecondition, 7, "failed_precondition"}, {CodeResourceExhausted, 8, "resource_exhausted"},
		{CodeRateLimited, 9, "rate_limited"}, {CodeUnavailable, 10, "unavailable"},
		{CodeTimeout, 11, "timeout"}, {CodeConnectionFailed, 12, "connection_failed"},
		{CodeAuthRequired, 13, "auth_required"},
	}
	for _, tc := range table {
		if uint16(tc.code) != tc.v || tc.code.String() != tc.name {
			t.Errorf("%d: %d %q", tc.v, uint16(tc.code), tc.code.String())
		}
		if c, ok := ParseCode(tc.name); !ok || c != tc.code {
			t.Errorf("ParseCode(%q) = %v, %v", tc.name, c, ok)
		}
	}
	if Code(0).String() != "code(0)" || Code(14).String() != "code(14)" {
		t.Errorf("out of table: %q %q", Code(0), Code(14))
	}
}

// TestIPC_RegistryCodeMapping checks registry.md §4.2 → ipc.md §4: one to
// one, message_too_large → 2.
func TestIPC_RegistryCodeMapping(t *testing.T) {
	want := map[string]Code{
		"invalid_argument": 2, "not_found": 3, "already_exists": 4, "permission_denied": 5,
		"unauthenticated": 6, "failed_precondition": 7, "resource_exhausted": 8,
		"rate_limited": 9, "message_too_large": 2, "unavailable": 10, "internal": 1,
	}
	for s, c := range want {
		if got, ok := CodeFromRegistry(s); !ok || got != c {
			t.Errorf("%s: %d, %v; want %d", s, got, ok, c)
		}
	}
	for _, s := range []string{"bogus", "", "timeout", "auth_required"} {
		if got, ok := CodeFromRegistry(s); ok || got != CodeInternal {
			t.Errorf("%q: %d, %v", s, got, ok)
		}
	}
}

func TestIPC_ErrorHint(t *testing.T) {
	cases := []struct{ text, msg, hint string }{
		{"port 80 already bound", "port 80 already bound", ""},
		{"network 3 is invite-only\nhint: ask an admin", "network 3 is invite-only", "ask an admin"},
		{"two\nlines", "two\nlines", ""},
	}
	for _, tc := range cases {
		m, h := Error{Text: tc.text}.Message()
		if m != tc.msg || h != tc.hint {
			t.Errorf("%q: %q %q", tc.text, m, h)
		}
	}
}

func TestIPC_EmptyAndUntaggableReplies(t *testing.T) {
	if _, err := DecodeRequest(nil); !errors.Is(err, ErrShortPayload) {
		t.Errorf("empty request: %v", err)
	}
	if _, err := DecodeReply([]byte{}); !errors.Is(err, ErrShortPayload) {
		t.Errorf("empty reply: %v", err)
	}
	// Unsolicited messages are never tagged (ipc.md §10.3).
	for _, s := range []string{"45 00000001 05 03e8 00000003 0000 000002af c001", "45 00000001 07 00000003 00",
		"45 00000001 0c 0001 000002ae c000 03ea", "45 00000001 47 00000003 00", "45 00000001 45 00000002 46"} {
		var te *TaggedError
		if _, err := DecodeReply(hx(t, s)); !errors.As(err, &te) || te.Tag != 1 {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := DecodeReply(hx(t, "45 000001")); !errors.Is(err, ErrShortPayload) {
		t.Errorf("short TaggedReply: %v", err)
	}
}
