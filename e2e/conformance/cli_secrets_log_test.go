package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli.md: "Secrets (tokens, keys, signatures, webhook secrets) are never
// logged." — neither in the process log (debug level included) nor in the
// -audit-file.
func TestConf_Cli_SecretsNeverLogged(t *testing.T) {
	af := filepath.Join(t.TempDir(), "audit.jsonl")
	r := start(t, "-rate-limit", "off", "-log-level", "debug", "-audit-file", af, "-beacon-token", "beacon-secret-777")
	c := r.dial()
	o, m := c.register(nil), c.register(nil)
	const join, nadm, wrong = "join-secret-4242", "net-admin-secret-4242", "wrong-admin-secret-4242"
	var secrets []string
	keep := func(req obj) obj {
		if s, ok := req["signature"].(string); ok {
			secrets = append(secrets, s)
		}
		if s, ok := req["new_key_signature"].(string); ok {
			secrets = append(secrets, s)
		}
		return req
	}
	net := c.createNet(o, "sl", "token", obj{"token": join, "network_admin_token": nadm})
	c.send(keep(m.sign(obj{"type": "join_network", "node_id": m.id, "network_id": net, "token": "bad-join-secret"})))
	c.send(keep(m.sign(obj{"type": "join_network", "node_id": m.id, "network_id": net, "token": join})))
	c.send(obj{"type": "rename_network", "network_id": net, "name": "sl2", "admin_token": wrong})
	c.send(obj{"type": "rename_network", "network_id": net, "name": "sl3", "admin_token": nadm})
	c.send(obj{"type": "set_polo_score", "node_id": m.id, "polo_score": 3, "admin_token": adminTok})
	bad := m.sign(obj{"type": "set_visibility", "node_id": m.id, "public": true})
	bad["public"] = false
	c.send(keep(bad))
	c.send(keep(m.sign(obj{"type": "set_visibility", "node_id": m.id, "public": true, "admin_token": wrong})))
	nk := newKey()
	rot := m.sign(obj{"type": "rotate_key", "node_id": m.id, "new_public_key": nk.pubB64()})
	rot["new_key_signature"] = signCanon(nk, rot, m.id)
	c.send(keep(rot))
	c.send(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:1", "token": "beacon-secret-777"})
	c.send(obj{"type": "beacon_register", "beacon_id": 1, "addr": "127.0.0.1:1", "token": "beacon-wrong-777"})
	// let the log lines arrive (bounded)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !strings.Contains(r.logText(), "beacon_register"); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // trailing lines; a check, not synchronisation
	logs := r.logText()
	afb, _ := os.ReadFile(af)
	for _, s := range append(secrets, join, nadm, wrong, adminTok, "bad-join-secret", "beacon-secret-777", "beacon-wrong-777") {
		if strings.Contains(logs, s) {
			t.Errorf("log contains the secret %q", s)
		}
		if strings.Contains(string(afb), s) {
			t.Errorf("audit file contains the secret %q", s)
		}
	}
}
