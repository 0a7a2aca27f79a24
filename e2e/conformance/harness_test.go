package conformance

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// adminTok is the global admin token of every registry started here.
const adminTok = "conformance-global-admin-token-0123"

// regBin is the pilot-registry binary built by TestMain.
var regBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pilot-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	regBin = filepath.Join(dir, "pilot-registry")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	out, err := exec.Command(goBin, "build", "-o", regBin, "github.com/pilot-go/pilot/cmd/pilot-registry").CombinedOutput()
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// reg is one running registry process.
type reg struct {
	t       *testing.T
	dataDir string
	flags   []string
	env     []string // extra environment (KEY=VALUE), after the defaults
	addr    string
	cmd     *exec.Cmd
	done    chan struct{}

	mu    sync.Mutex
	lines []string // every stderr line
	cond  *sync.Cond
}

// start runs the registry with a fresh data directory, the admin token,
// JSON logs, a free loopback port and the extra flags.
func start(t *testing.T, extra ...string) *reg {
	t.Helper()
	r := &reg{t: t, dataDir: t.TempDir()}
	r.flags = append([]string{"-admin-token", adminTok}, extra...)
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	return r
}

// startNoToken runs the registry without an admin token.
func startRaw(t *testing.T, flags ...string) *reg {
	t.Helper()
	r := &reg{t: t, dataDir: t.TempDir(), flags: flags}
	r.launch(freePort(t))
	t.Cleanup(r.kill)
	return r
}

func (r *reg) launch(listen string) {
	t := r.t
	t.Helper()
	args := append([]string{"-data-dir", r.dataDir, "-log-format", "json", "-listen", listen}, r.flags...)
	cmd := exec.Command(regBin, args...)
	cmd.Env = append(append(os.Environ(), "PILOT_REGISTRY_ADMIN_TOKEN="), r.env...)
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.cmd = cmd
	done := make(chan struct{})
	r.done = done
	r.mu.Lock()
	if r.cond == nil { // one Cond for every launch: the reader of a previous run may still signal it
		r.cond = sync.NewCond(&r.mu)
	}
	r.mu.Unlock()
	ready := make(chan string, 1)
	go func() {
		br := bufio.NewReaderSize(pr, 1<<20)
		found := false
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				line = strings.TrimRight(line, "\n")
				r.mu.Lock()
				r.lines = append(r.lines, line)
				r.cond.Broadcast()
				r.mu.Unlock()
				if !found {
					var rec map[string]any
					if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "registry listening" {
						found = true
						a, _ := rec["addr"].(string)
						ready <- a
					}
				}
			}
			if err != nil {
				r.mu.Lock()
				r.cond.Broadcast()
				r.mu.Unlock()
				return
			}
		}
	}()
	go func() { cmd.Wait(); close(done) }()
	deadline := time.After(60 * time.Second)
	// The "registry listening" line says the registry is ready. Only when
	// -log-level may filter it is the port probed instead: a probe
	// connection takes a slot of -max-conns until the registry sees it
	// close, so it is not made when the line will come.
	var probe <-chan time.Time
	if strings.Contains(strings.Join(r.flags, " "), "-log-level") {
		poll := time.NewTicker(50 * time.Millisecond)
		defer poll.Stop()
		probe = poll.C
	}
	for {
		select {
		case a := <-ready:
			r.addr = a
			return
		case <-probe:
			if c, err := net.Dial("tcp", listen); err == nil {
				c.Close()
				r.addr = listen
				return
			}
		case <-r.done:
			t.Fatalf("registry exited before listening:\n%s", r.logText())
		case <-deadline:
			r.kill()
			t.Fatalf("registry did not start:\n%s", r.logText())
		}
	}
}

// freePort returns a loopback address with a port that was free just now.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// kill sends SIGKILL and waits.
func (r *reg) kill() {
	if r.cmd == nil {
		return
	}
	select {
	case <-r.done:
	default:
		r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
	}
}

// restart SIGKILLs the process and starts it again on the same port and data.
func (r *reg) restart() {
	r.kill()
	r.mu.Lock()
	r.lines = nil
	r.mu.Unlock()
	r.launch(r.addr)
}

func (r *reg) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// logRecords returns the parsed JSON log lines (raw text kept as "_raw").
func (r *reg) logLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// waitAudit waits until an audit log record with audit_seq == seq exists and returns its raw line.
func (r *reg) waitAudit(seq int) string {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range r.logLines() {
			if strings.Contains(l, `"msg":"audit"`) && strings.Contains(l, `"audit_seq":`+strconv.Itoa(seq)+`,`) {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("no audit record with seq %d; log:\n%s", seq, r.logText())
	return ""
}

// auditLines returns every audit log line.
func (r *reg) auditLines() []string {
	var out []string
	for _, l := range r.logLines() {
		if strings.Contains(l, `"msg":"audit"`) {
			out = append(out, l)
		}
	}
	return out
}

// ---- raw framing ----

type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (r *reg) dial() *conn {
	r.t.Helper()
	c, err := net.DialTimeout("tcp", r.addr, 10*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &conn{t: r.t, c: c, r: bufio.NewReader(c)}
}

func frame(body []byte) []byte {
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	return append(b, body...)
}

func (c *conn) writeRaw(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// readFrame reads one reply frame body.
func (c *conn) readFrame() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > 65536 {
		return nil, fmt.Errorf("reply length %d over the cap", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(c.r, b)
	return b, err
}

// reply is a decoded reply.
type reply struct {
	raw []byte
	m   map[string]any
}

func (p reply) typ() string  { s, _ := p.m["type"].(string); return s }
func (p reply) code() string { s, _ := p.m["code"].(string); return s }
func (p reply) msg() string  { s, _ := p.m["error"].(string); return s }
func (p reply) num(k string) int64 {
	v, ok := p.m[k].(json.Number)
	if !ok {
		return -1 << 62
	}
	n, err := v.Int64()
	if err != nil {
		return -1 << 62
	}
	return n
}
func (p reply) str(k string) string { s, _ := p.m[k].(string); return s }
func (p reply) String() string      { return string(p.raw) }

func decode(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	err := d.Decode(&m)
	return m, err
}

func (c *conn) read() reply {
	c.t.Helper()
	b, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	m, err := decode(b)
	if err != nil {
		c.t.Fatalf("reply is not JSON: %v: %q", err, b)
	}
	checkEnvelope(c.t, b, m)
	return reply{raw: b, m: m}
}

// checkEnvelope asserts §4.1: success replies have no error key, error
// replies have type, error, code from §4.2.
func checkEnvelope(t *testing.T, b []byte, m map[string]any) {
	t.Helper()
	typ, _ := m["type"].(string)
	if typ == "error" {
		code, _ := m["code"].(string)
		if !validCodes[code] {
			t.Errorf("error reply with code %q not in §4.2: %s", code, b)
		}
		msg, _ := m["error"].(string)
		if msg == "" || msg == "request failed" {
			t.Errorf("error reply with generic message: %s", b)
		}
		if _, ok := m["retry_after_ms"]; ok != (code == "rate_limited") {
			t.Errorf("retry_after_ms presence wrong: %s", b)
		}
		for k := range m {
			if k != "type" && k != "error" && k != "code" && k != "retry_after_ms" {
				t.Errorf("error reply has extra key %q: %s", k, b)
			}
		}
		return
	}
	if !strings.HasSuffix(typ, "_ok") {
		t.Errorf("reply type %q is neither error nor *_ok: %s", typ, b)
	}
	if _, ok := m["error"]; ok {
		t.Errorf("success reply has an error key: %s", b)
	}
}

var validCodes = map[string]bool{
	"invalid_argument": true, "not_found": true, "already_exists": true, "permission_denied": true,
	"unauthenticated": true, "failed_precondition": true, "resource_exhausted": true, "rate_limited": true,
	"message_too_large": true, "unavailable": true, "internal": true,
}

// send writes a JSON request (map, or raw string/[]byte body) and reads the reply.
func (c *conn) send(req any) reply {
	c.t.Helper()
	c.writeRaw(frame(body(c.t, req)))
	return c.read()
}

func body(t *testing.T, req any) []byte {
	switch v := req.(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	default:
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		if err := e.Encode(req); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimRight(buf.Bytes(), "\n")
	}
}

// ---- auth v2 (written from registry.md §5.1) ----

type obj = map[string]any

// node is a key pair, with the node ID once registered.
type node struct {
	id  int64
	pub ed25519.PublicKey
	key ed25519.PrivateKey
}

func newKey() *node {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &node{pub: pub, key: priv}
}

func (n *node) pubB64() string { return base64.StdEncoding.EncodeToString(n.pub) }

func sha(s string) string {
	if s == "" {
		return ""
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// canonical builds the §5.1 string.
func canonical(typ string, signer int64, ts int64, nonce string, params []string) string {
	lines := []string{"pilot-reg-v2", typ, strconv.FormatInt(signer, 10), strconv.FormatInt(ts, 10), nonce}
	lines = append(lines, params...)
	return strings.Join(lines, "\n")
}

func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// signWith adds ts, nonce and signature to req, signing with key k as signer.
func signWith(req obj, k ed25519.PrivateKey, signer int64, tsOff time.Duration) obj {
	ts := time.Now().Add(tsOff).UnixMilli()
	nonce := newNonce()
	req["ts"] = ts
	req["nonce"] = nonce
	sig := ed25519.Sign(k, []byte(canonical(req["type"].(string), signer, ts, nonce, params(req))))
	req["signature"] = base64.StdEncoding.EncodeToString(sig)
	return req
}

// sign signs req as node n with the message's signer field (table 5.4).
func (n *node) sign(req obj) obj {
	return signWith(req, n.key, n.id, 0)
}

func pInt(req obj, k string) string {
	v, ok := req[k]
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatInt(int64(x), 10)
	}
	return fmt.Sprint(v)
}

func pStr(req obj, k string) string {
	s, _ := req[k].(string)
	return s
}

func pBool(req obj, k string) string {
	v, ok := req[k]
	if !ok {
		return ""
	}
	if b, ok := v.(bool); ok && b {
		return "true"
	}
	return "false"
}

func pList(req obj, k string) string {
	v, ok := req[k]
	if !ok || v == nil {
		return ""
	}
	var parts []string
	switch x := v.(type) {
	case []string:
		parts = x
	case []int:
		for _, i := range x {
			parts = append(parts, strconv.Itoa(i))
		}
	case []any:
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
	}
	return strings.Join(parts, ",")
}

// params lists p1..pn of table 5.4.
func params(req obj) []string {
	switch req["type"] {
	case "register":
		return []string{pStr(req, "public_key"), pStr(req, "listen_addr"), pStr(req, "hostname"), pStr(req, "owner"),
			pList(req, "lan_addrs"), pList(req, "capabilities"), pStr(req, "version")}
	case "heartbeat", "deregister", "poll_handshakes", "poll_invites":
		return nil
	case "lookup", "resolve":
		return []string{pInt(req, "node_id")}
	case "punch":
		return []string{pInt(req, "node_a"), pInt(req, "node_b")}
	case "rotate_key":
		return []string{pStr(req, "new_public_key"), pStr(req, "expires_at")}
	case "set_key_expiry":
		return []string{pStr(req, "expires_at")}
	case "reassign_key":
		return []string{pInt(req, "node_id"), pStr(req, "new_public_key")}
	case "set_visibility":
		return []string{pBool(req, "public")}
	case "set_hostname", "resolve_hostname":
		return []string{pStr(req, "hostname")}
	case "set_tags":
		return []string{pList(req, "tags")}
	case "set_task_exec":
		return []string{pBool(req, "enabled")}
	case "report_trust", "revoke_trust", "check_trust":
		return []string{pInt(req, "peer_id")}
	case "request_handshake":
		return []string{pInt(req, "to_node_id"), sha(pStr(req, "justification"))}
	case "respond_handshake":
		return []string{pInt(req, "peer_id"), pBool(req, "accept")}
	case "create_network":
		return []string{pStr(req, "name"), pStr(req, "join_rule"), sha(pStr(req, "token")), sha(pStr(req, "network_admin_token"))}
	case "join_network":
		return []string{pInt(req, "network_id"), sha(pStr(req, "token"))}
	case "leave_network", "delete_network", "list_nodes", "get_network_policy":
		return []string{pInt(req, "network_id")}
	case "rename_network":
		return []string{pInt(req, "network_id"), pStr(req, "name")}
	case "list_networks":
		return []string{pBool(req, "all")}
	case "kick_member", "promote_member", "demote_member", "get_member_role":
		return []string{pInt(req, "network_id"), pInt(req, "target_node_id")}
	case "transfer_ownership":
		return []string{pInt(req, "network_id"), pInt(req, "new_owner_id")}
	case "set_network_policy":
		var fields []string
		for _, f := range []string{"max_members", "allowed_ports", "description"} {
			if _, ok := req[f]; ok {
				fields = append(fields, f)
			}
		}
		return []string{pInt(req, "network_id"), strings.Join(fields, ","), pInt(req, "max_members"), pList(req, "allowed_ports"), sha(pStr(req, "description"))}
	case "invite_to_network":
		return []string{pInt(req, "network_id"), pInt(req, "target_node_id")}
	case "respond_invite":
		return []string{pInt(req, "network_id"), pBool(req, "accept")}
	case "get_audit_log":
		return []string{pInt(req, "network_id"), pStr(req, "action")}
	}
	return nil
}

// ---- helpers ----

// register registers a new key and returns the node.
func (c *conn) register(extra obj) *node {
	c.t.Helper()
	n := newKey()
	req := obj{"type": "register", "public_key": n.pubB64(), "listen_addr": "127.0.0.1:4000"}
	for k, v := range extra {
		req[k] = v
	}
	p := c.send(signWith(req, n.key, 0, 0))
	if p.typ() != "register_ok" {
		c.t.Fatalf("register: %s", p)
	}
	n.id = p.num("node_id")
	return n
}

// ok sends req and fails unless the reply is <type>_ok.
func (c *conn) ok(req obj) reply {
	c.t.Helper()
	p := c.send(req)
	if p.typ() != req["type"].(string)+"_ok" {
		c.t.Fatalf("%v: want %s_ok, got %s", req["type"], req["type"], p)
	}
	return p
}

// fail sends req and fails unless the reply is an error with code (and message containing sub).
func (c *conn) fail(req obj, code, sub string) reply {
	c.t.Helper()
	p := c.send(req)
	if p.typ() != "error" || p.code() != code {
		c.t.Errorf("%v: want error %s, got %s", req["type"], code, p)
	} else if sub != "" && !strings.Contains(p.msg(), sub) {
		c.t.Errorf("%v: message %q does not contain %q", req["type"], p.msg(), sub)
	}
	return p
}

// createNet creates a network owned by owner with the global token.
func (c *conn) createNet(owner *node, name, rule string, extra obj) int64 {
	c.t.Helper()
	req := obj{"type": "create_network", "node_id": owner.id, "name": name, "admin_token": adminTok}
	if rule != "" {
		req["join_rule"] = rule
	}
	for k, v := range extra {
		req[k] = v
	}
	p := c.ok(owner.sign(req))
	return p.num("network_id")
}

func (c *conn) join(n *node, net int64) {
	c.t.Helper()
	c.ok(n.sign(obj{"type": "join_network", "node_id": n.id, "network_id": net}))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sign64(k *node, s string) []byte { return ed25519.Sign(k.key, []byte(s)) }
