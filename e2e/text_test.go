package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// runText runs pilotctl in text mode and returns stdout, stderr and the
// exit status.
func (d *daemon) runText(args ...string) (string, string, int) {
	t := d.c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.ctl, append([]string{"--socket", d.sock}, args...)...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// The text lines of cli.md §5 items 12–14, and --json accepted after the
// command's arguments (item 10).
func TestE2E_TextOutputChecklist(t *testing.T) {
	c := newCluster(t)
	owner := c.startDaemon("owner")
	admin := c.startDaemon("admin")
	member := c.startDaemon("member")
	cr := owner.ok("network", "create", "--name", "text", "--join-rule", "invite", "--admin-token", adminToken)
	ns := strconv.Itoa(cr.int("network_id"))
	for _, d := range []*daemon{admin, member} {
		owner.ok("network", "invite", ns, "--node", strconv.Itoa(d.id))
		out, _, code := d.runText("network", "accept", ns)
		want := "joined network " + ns + " as " + ns + ":"
		if code != 0 || !strings.HasPrefix(out, want) || !strings.HasSuffix(strings.TrimSpace(out), "(role member)") {
			t.Fatalf("accept: exit %d %q, want %q… (role member)", code, out, want)
		}
	}
	// Item 12.
	out, _, code := owner.runText("network", "promote", ns, "--node", strconv.Itoa(admin.id))
	if want := "node " + strconv.Itoa(admin.id) + " is now admin of network " + ns + "\n"; code != 0 || out != want {
		t.Fatalf("promote by the owner: exit %d %q, want %q", code, out, want)
	}
	_, errOut, code := admin.runText("network", "promote", ns, "--node", strconv.Itoa(member.id))
	if code != 4 || !strings.HasPrefix(errOut, "error: ") {
		t.Fatalf("promote by an admin: exit %d stderr %q", code, errOut)
	}
	// Item 13.
	owner.runText("network", "set-policy", ns, "--max-members", "50")
	out, _, _ = owner.runText("network", "set-policy", ns, "--allowed-ports", "80,443,7")
	if !strings.Contains(out, "allowed ports:  7, 80, 443") || !strings.Contains(out, "max members:    50") {
		t.Fatalf("set-policy text:\n%s", out)
	}
	out, _, _ = owner.runText("network", "set-policy", ns, "--clear-allowed-ports")
	if !strings.Contains(out, "allowed ports:  all") || !strings.Contains(out, "max members:    50") {
		t.Fatalf("clear-allowed-ports text:\n%s", out)
	}
	// Item 10: --json after the arguments.
	r := runCtl(t, owner.sock, "network", "policy", ns, "--json")
	if r.exit != 0 || r.int("max_members") != 50 {
		t.Fatalf("%v", r)
	}
}
