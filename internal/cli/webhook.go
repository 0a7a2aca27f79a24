package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pilot-go/pilot/internal/wire/ipcmsg"
)

// webhookCommands: the webhook group and the original's set-webhook /
// clear-webhook aliases (cli.md §4.9).
func (a *app) webhookCommands() []*cobra.Command {
	wh := &cobra.Command{
		Use:     "webhook",
		Short:   "Configure the daemon's event webhook",
		Example: "  pilotctl webhook set https://hooks.example.com/pilot --secret whsec_…\n  pilotctl webhook status",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	status := &cobra.Command{
		Use: "status", Short: "Show the webhook configuration and delivery counters",
		Example: "  pilotctl webhook status", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			return a.registryCmd(cmd, ipcmsg.OpWebhookStatus, nil, false, textWebhookStatus)
		}),
	}
	wh.AddCommand(a.webhookSet("set <url> [--secret S]", "  pilotctl webhook set https://hooks.example.com/pilot --secret whsec_…"),
		a.webhookClear("clear", "  pilotctl webhook clear"), status)
	set := a.webhookSet("set-webhook <url> [--secret S]", "  pilotctl set-webhook https://hooks.example.com/pilot")
	set.Short = "Alias of `webhook set`"
	clr := a.webhookClear("clear-webhook", "  pilotctl clear-webhook")
	clr.Short = "Alias of `webhook clear`"
	return []*cobra.Command{wh, set, clr}
}

func (a *app) webhookSet(use, example string) *cobra.Command {
	var secret string
	cmd := &cobra.Command{
		Use: use, Short: "Send daemon events to a URL (HMAC-signed with --secret)", Example: example,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return usageErr("empty URL: use `pilotctl webhook clear` to disable the webhook")
			}
			opArgs := map[string]any{"url": args[0]}
			if secret != "" {
				opArgs["secret"] = secret
			}
			body, err := a.registryBody(cmd, ipcmsg.OpWebhookSet, opArgs, false)
			if err != nil {
				return err
			}
			var r struct {
				Webhook string `json:"webhook"`
				Signed  bool   `json:"signed"`
			}
			if err := decodeData(body, &r); err != nil {
				return err
			}
			if err := a.saveWebhook(args[0], secret, r.Signed); err != nil {
				return err
			}
			return a.print(body, func(w io.Writer, _ json.RawMessage) error {
				signed := "unsigned"
				if r.Signed {
					signed = "signed"
				}
				fmt.Fprintf(w, "webhook set to %s (%s)\n", r.Webhook, signed)
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&secret, "secret", "", "Standard Webhooks signing secret (whsec_…)")
	return cmd
}

func (a *app) webhookClear(use, example string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: "Disable the webhook", Example: example, Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, _ []string) error {
			body, err := a.registryBody(cmd, ipcmsg.OpWebhookClear, nil, false)
			if err != nil {
				return err
			}
			if err := a.saveWebhook("", "", false); err != nil {
				return err
			}
			return a.print(body, func(w io.Writer, _ json.RawMessage) error {
				fmt.Fprintln(w, "webhook cleared")
				return nil
			})
		}),
	}
}

// saveWebhook mirrors the webhook into ~/.pilot/config.json when that file
// exists, so `daemon start` agrees with the running daemon (cli.md §4.9).
// Without --secret the daemon keeps its current secret: the file keeps its
// webhook_secret while the reply says the webhook is still signed, and
// drops it when the reply says unsigned.
func (a *app) saveWebhook(url, secret string, signed bool) error {
	kv := map[string]any{"webhook": nil, "webhook_secret": nil}
	if url != "" {
		kv["webhook"] = url
		switch {
		case secret != "":
			kv["webhook_secret"] = secret
		case signed:
			delete(kv, "webhook_secret")
		}
	}
	if err := a.cfg.update(kv); err != nil {
		return errorf(codeInternal, "webhook changed in the daemon, but updating %s failed: %v", a.cfg.path, err)
	}
	return nil
}

func textWebhookStatus(w io.Writer, body json.RawMessage) error {
	var r struct {
		Configured  bool   `json:"configured"`
		URL         string `json:"url"`
		Signed      bool   `json:"signed"`
		Queued      uint64 `json:"queued"`
		Delivered   uint64 `json:"delivered"`
		Failed      uint64 `json:"failed"`
		Dropped     uint64 `json:"dropped"`
		LastEventID uint64 `json:"last_event_id"`
	}
	if err := decodeData(body, &r); err != nil {
		return err
	}
	if !r.Configured {
		fmt.Fprintln(w, "webhook not configured")
	} else {
		fmt.Fprintf(w, "webhook %s\n", r.URL)
	}
	fields(w, []field{
		{"signed", yesNo(r.Signed)}, {"queued", itoa(r.Queued)}, {"delivered", itoa(r.Delivered)},
		{"failed", itoa(r.Failed)}, {"dropped", itoa(r.Dropped)}, {"last event", itoa(r.LastEventID)},
	})
	return nil
}
