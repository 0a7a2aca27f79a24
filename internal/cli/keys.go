package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// keyCommand is the `key` group (cli.md §4.8).
func (a *app) keyCommand() *cobra.Command {
	key := &cobra.Command{
		Use:     "key",
		Short:   "Inspect, expire, rotate or reclaim node keys",
		Example: "  pilotctl key info\n  pilotctl key expiry 90d\n  pilotctl key rotate --expires-in 90d",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	info := &cobra.Command{
		Use: "info [<target>]", Short: "Show a node's key lifecycle (this node by default)",
		Example: "  pilotctl key info\n  pilotctl key info 686", Args: cobra.MaximumNArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			return a.control(cmd, func(ctx context.Context, c *ipcClient) (json.RawMessage, error) {
				var node uint32
				if len(args) == 1 {
					id, err := a.resolveNode(ctx, c, args[0])
					if err != nil {
						return nil, err
					}
					node = uint32(id)
				}
				return c.registryOp(ctx, ipcmsg.OpKeyInfo, map[string]any{"node_id": node}, "")
			}, false, textKeyInfo)
		}),
	}
	expiry := &cobra.Command{
		Use:     "expiry <when>",
		Short:   "Set or clear this node's key expiry (RFC 3339 time, duration from now such as 90d or 36h, or never)",
		Example: "  pilotctl key expiry 90d\n  pilotctl key expiry 2027-01-01T00:00:00Z\n  pilotctl key expiry never",
		Args:    cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			when, err := a.expiryValue(args[0])
			if err != nil {
				return err
			}
			return a.registryCmd(cmd, ipcmsg.OpKeySetExpiry, map[string]any{"expires_at": when}, false, textKeyExpiry)
		}),
	}
	var expiresIn time.Duration
	rotate := &cobra.Command{
		Use: "rotate [--expires-in D]", Short: "Replace this node's key with a new one",
		Example: "  pilotctl key rotate\n  pilotctl key rotate --expires-in 90d", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			args := map[string]any{}
			if cmd.Flags().Changed("expires-in") {
				if expiresIn <= 0 {
					return usageErr("--expires-in must be positive")
				}
				args["expires_at"] = a.env.Now().Add(expiresIn).UTC().Format(time.RFC3339)
			}
			return a.registryCmd(cmd, ipcmsg.OpKeyRotate, args, false, textKeyRotate)
		}),
	}
	rotate.Flags().Var(durationValue{&expiresIn}, "expires-in", "expiry of the new key from now, e.g. 90d")
	reclaim := &cobra.Command{
		Use:     "reclaim <node_id> [--admin-token T]",
		Short:   "Adopt a node whose key was lost, with this daemon's fresh key",
		Example: "  pilotctl key reclaim 42 --admin-token $TOKEN",
		Args:    cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil || n == 0 || n > ipcmsg.MaxNodeID {
				return usageErr("invalid node ID %q: want a decimal node ID", args[0])
			}
			return a.registryCmd(cmd, ipcmsg.OpKeyReclaim, map[string]any{"node_id": n}, true, textKeyReclaim)
		}),
	}
	key.AddCommand(info, expiry, rotate, reclaim)
	return key
}

// expiryValue turns <when> into the expires_at argument: RFC 3339 as
// given (normalised to UTC), "never", or now + a duration.
func (a *app) expiryValue(s string) (string, error) {
	if s == "never" {
		return "never", nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339), nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return "", usageErr("invalid expiry %q: want an RFC 3339 time, a duration such as 90d or 36h, or never", s)
	}
	return a.env.Now().Add(d).UTC().Format(time.RFC3339), nil
}

type keyData struct {
	NodeID         uint32 `json:"node_id"`
	PreviousNodeID uint32 `json:"previous_node_id"`
	Address        string `json:"address"`
	PublicKey      string `json:"public_key"`
	CreatedAt      string `json:"created_at"`
	RotatedAt      string `json:"rotated_at"`
	RotateCount    int64  `json:"rotate_count"`
	ExpiresAt      string `json:"expires_at"`
	KeyAgeDays     int64  `json:"key_age_days"`
	Expired        bool   `json:"expired"`
}

func textKeyInfo(w io.Writer, body json.RawMessage) error {
	var k keyData
	if err := decodeData(body, &k); err != nil {
		return err
	}
	fmt.Fprintf(w, "key of node %d\n", k.NodeID)
	fields(w, []field{
		{"created", k.CreatedAt}, {"rotated", k.RotatedAt}, {"rotations", strconv.FormatInt(k.RotateCount, 10)},
		{"expires", firstNonEmpty(k.ExpiresAt, "never")}, {"age", fmt.Sprintf("%d days", k.KeyAgeDays)},
		{"expired", yesNo(k.Expired)},
	})
	return nil
}

func textKeyExpiry(w io.Writer, body json.RawMessage) error {
	var k keyData
	if err := decodeData(body, &k); err != nil {
		return err
	}
	if k.ExpiresAt == "" {
		fmt.Fprintf(w, "key of node %d never expires\n", k.NodeID)
	} else {
		fmt.Fprintf(w, "key of node %d expires at %s\n", k.NodeID, k.ExpiresAt)
	}
	return nil
}

func textKeyRotate(w io.Writer, body json.RawMessage) error {
	var k keyData
	if err := decodeData(body, &k); err != nil {
		return err
	}
	fmt.Fprintf(w, "key of node %d rotated (rotation %d)\n", k.NodeID, k.RotateCount)
	fields(w, []field{{"public key", k.PublicKey}, {"rotated", k.RotatedAt}, {"expires", firstNonEmpty(k.ExpiresAt, "never")}})
	return nil
}

func textKeyReclaim(w io.Writer, body json.RawMessage) error {
	var k keyData
	if err := decodeData(body, &k); err != nil {
		return err
	}
	fmt.Fprintf(w, "node %d reclaimed with this daemon's key (was node %d)\n", k.NodeID, k.PreviousNodeID)
	return nil
}
