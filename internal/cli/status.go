package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// statusCommands: info, health, peers (cli.md §4.5).
func (a *app) statusCommands() []*cobra.Command {
	info := &cobra.Command{
		Use:     "info",
		Short:   "Show the daemon's node, peers and connections (IPC Info)",
		Example: "  pilotctl info\n  pilotctl info --json",
		Args:    cobra.NoArgs,
		RunE:    a.run(a.runInfo),
	}
	health := &cobra.Command{
		Use:     "health",
		Short:   "Show the daemon's health (IPC Health)",
		Example: "  pilotctl --json health",
		Args:    cobra.NoArgs,
		RunE:    a.run(a.runHealth),
	}
	var search string
	peers := &cobra.Command{
		Use:     "peers [--search S]",
		Short:   "List the daemon's tunnel peers",
		Example: "  pilotctl peers --search 686",
		Args:    cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			args := map[string]any{}
			if search != "" {
				args["search"] = search
			}
			return a.registryCmd(cmd, ipcmsg.OpPeers, args, false, printPeers)
		}),
	}
	peers.Flags().StringVar(&search, "search", "", "substring of a node ID or endpoint")
	return []*cobra.Command{info, health, peers}
}

// fetchInfo asks the daemon for its Info object.
func (a *app) fetchInfo(cmd *cobra.Command) (json.RawMessage, error) {
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	defer cancel()
	c, err := a.daemon(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.callJSON(ctx, ipcmsg.Info{}, ipcmsg.CmdInfoOK)
}

func (a *app) runInfo(cmd *cobra.Command, _ []string) error {
	body, err := a.fetchInfo(cmd)
	if err != nil {
		return err
	}
	var n ipcmsg.NodeInfo
	if err := decodeData(body, &n); err != nil {
		return err
	}
	return a.emit(json.RawMessage(body), func(w io.Writer) { printInfo(w, n) })
}

func printInfo(w io.Writer, n ipcmsg.NodeInfo) {
	title := fmt.Sprintf("node %d", n.NodeID)
	if n.Hostname != "" {
		title += " (" + n.Hostname + ")"
	}
	fmt.Fprintln(w, title)
	nets := make([]string, 0, len(n.Networks))
	for _, x := range n.Networks {
		nets = append(nets, x.Address.String())
	}
	fields(w, []field{
		{"address", n.Address.String()},
		{"version", n.Version},
		{"uptime", (time.Duration(n.UptimeSecs) * time.Second).String()},
		{"public key", n.PublicKey},
		{"email", n.Email},
		{"encryption", onOff(n.Encrypt)},
		{"peers", fmt.Sprintf("%d (%d encrypted, %d authenticated)", n.Peers, n.EncryptedPeers, n.AuthenticatedPeers)},
		{"connections", strconv.Itoa(n.Connections)},
		{"ports", strconv.Itoa(n.Ports)},
		{"networks", strings.Join(nets, ", ")},
		{"pending trust", strconv.Itoa(n.HandshakePendingCount)},
		{"traffic", fmt.Sprintf("%d bytes sent, %d bytes received", n.BytesSent, n.BytesRecv)},
	})
	if len(n.PeerList) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(n.PeerList))
		for _, p := range n.PeerList {
			rows = append(rows, []string{strconv.FormatUint(uint64(p.NodeID), 10), p.Endpoint,
				yesNo(p.Encrypted), yesNo(p.Authenticated), yesNo(p.Relay)})
		}
		table(w, []string{"PEER", "ENDPOINT", "ENCRYPTED", "AUTHENTICATED", "RELAY"}, rows)
	}
	if len(n.ConnList) > 0 {
		fmt.Fprintln(w)
		rows := make([][]string, 0, len(n.ConnList))
		for _, c := range n.ConnList {
			rows = append(rows, []string{strconv.FormatUint(uint64(c.ID), 10), strconv.Itoa(int(c.LocalPort)),
				fmt.Sprintf("%s:%d", c.RemoteAddr, c.RemotePort), c.State,
				strconv.FormatUint(c.BytesSent, 10), strconv.FormatUint(c.BytesRecv, 10),
				strconv.FormatUint(c.SRTTMillis, 10)})
		}
		table(w, []string{"CONN", "LOCAL PORT", "REMOTE", "STATE", "SENT", "RECV", "SRTT MS"}, rows)
	}
}

func (a *app) runHealth(cmd *cobra.Command, _ []string) error {
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	defer cancel()
	c, err := a.daemon(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	body, err := c.callJSON(ctx, ipcmsg.Health{}, ipcmsg.CmdHealthOK)
	if err != nil {
		return err
	}
	var h ipcmsg.HealthReport
	if err := decodeData(body, &h); err != nil {
		return err
	}
	return a.emit(json.RawMessage(body), func(w io.Writer) {
		wh := "not configured"
		if h.Webhook.Configured {
			wh = "configured"
		}
		fields(w, []field{
			{"status", h.Status},
			{"uptime", (time.Duration(h.UptimeSeconds) * time.Second).String()},
			{"registry", h.Registry},
			{"connections", strconv.Itoa(h.Connections)},
			{"peers", strconv.Itoa(h.Peers)},
			{"traffic", fmt.Sprintf("%d bytes sent, %d bytes received", h.BytesSent, h.BytesRecv)},
			{"key expires", firstNonEmpty(h.KeyExpiresAt, "never")},
			{"webhook", fmt.Sprintf("%s (queued %d, delivered %d, failed %d, dropped %d, last event %d)",
				wh, h.Webhook.Queued, h.Webhook.Delivered, h.Webhook.Failed, h.Webhook.Dropped, h.Webhook.LastEventID)},
		})
	})
}

// peerEntry is one entry of the peers op reply (ipc.md §10.4).
type peerEntry struct {
	NodeID     uint32 `json:"node_id"`
	Endpoint   string `json:"endpoint"`
	Path       string `json:"path"`
	Auth       string `json:"auth"`
	KeyAgeS    int64  `json:"key_age_s"`
	LastRxMs   int64  `json:"last_rx_ms"`
	FramesSent uint64 `json:"frames_sent"`
	FramesRecv uint64 `json:"frames_recv"`
}

func printPeers(w io.Writer, body json.RawMessage) error {
	var r struct {
		Peers []peerEntry `json:"peers"`
		Total int         `json:"total"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if len(r.Peers) == 0 {
		fmt.Fprintln(w, "no peers")
		return nil
	}
	rows := make([][]string, 0, len(r.Peers))
	for _, p := range r.Peers {
		rows = append(rows, []string{strconv.FormatUint(uint64(p.NodeID), 10), p.Endpoint, p.Path, p.Auth,
			fmt.Sprintf("%ds", p.KeyAgeS), fmt.Sprintf("%dms", p.LastRxMs),
			strconv.FormatUint(p.FramesSent, 10), strconv.FormatUint(p.FramesRecv, 10)})
	}
	table(w, []string{"NODE", "ENDPOINT", "PATH", "AUTH", "KEY AGE", "LAST RX", "FRAMES SENT", "FRAMES RECV"}, rows)
	if r.Total > len(r.Peers) {
		fmt.Fprintf(w, "%d of %d peers shown\n", len(r.Peers), r.Total)
	}
	return nil
}

// registryCmd runs one RegistryOp and prints its reply as data, or through
// text in text mode. withToken attaches the admin token (cli.md §4.4).
func (a *app) registryCmd(cmd *cobra.Command, op string, args map[string]any, withToken bool,
	text func(io.Writer, json.RawMessage) error) error {
	body, err := a.registryBody(cmd, op, args, withToken)
	if err != nil {
		return err
	}
	return a.print(body, text)
}

// registryBody runs one RegistryOp on a fresh connection.
func (a *app) registryBody(cmd *cobra.Command, op string, args map[string]any, withToken bool) (json.RawMessage, error) {
	ctx, cancel := a.ctx(cmd, defaultTimeout)
	defer cancel()
	c, err := a.daemon(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tok := ""
	if withToken {
		tok = a.adminToken
	}
	return c.registryOp(ctx, op, args, tok)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
