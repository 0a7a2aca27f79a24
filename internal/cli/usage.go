package cli

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Help, version and argument errors in both output modes. With --json,
// help and the version are printed as the one {"status":"ok","data":…}
// line every command prints (cli.md §5 item 10), and argument errors name
// the missing or extra argument instead of cobra's counts.

// helpData is the data of --help (and `help`) with --json.
type helpData struct {
	Command     string   `json:"command"`
	Usage       string   `json:"usage"`
	Short       string   `json:"short"`
	Example     string   `json:"example"`
	Subcommands []string `json:"subcommands"`
	Help        string   `json:"help"`
}

// installHelp makes help and --version print JSON in --json mode.
func (a *app) installHelp(root *cobra.Command) {
	textHelp := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if !a.jsonMode {
			textHelp(c, args)
			return
		}
		var buf bytes.Buffer
		c.SetOut(&buf)
		textHelp(c, args)
		c.SetOut(a.env.Stdout)
		d := helpData{Command: c.CommandPath(), Usage: c.UseLine(), Short: c.Short, Example: c.Example,
			Subcommands: []string{}, Help: buf.String()}
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				d.Subcommands = append(d.Subcommands, sub.Name())
			}
		}
		writeOK(a.env.Stdout, d)
	})
	if a.jsonMode {
		b, _ := encodeJSON(okEnvelope{Status: "ok", Data: map[string]string{"version": Version}})
		// The line holds no "{{", so the template prints it verbatim.
		root.SetVersionTemplate(strings.ReplaceAll(string(b), "{{", `{{"{{"}}`) + "\n")
	}
}

// positionals returns the positional placeholders of a Use line: the words
// after the command name up to the first flag, each with whether it is
// required and whether it repeats ("<tag>…").
type positional struct {
	name     string
	required bool
	variadic bool
}

func positionals(use string) []positional {
	words := strings.Fields(use)
	var out []positional
	for _, w := range words[min(1, len(words)):] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[-") {
			break
		}
		p := positional{name: w, required: !strings.HasPrefix(w, "[")}
		if !p.required {
			p.name = strings.TrimSuffix(strings.TrimPrefix(w, "["), "]")
		}
		if n, ok := strings.CutSuffix(p.name, "…"); ok {
			p.name, p.variadic = n, true
		}
		out = append(out, p)
	}
	return out
}

// argsMessage explains a wrong number of positional arguments from the
// command's Use line; "" when the Use line does not explain the error.
func argsMessage(c *cobra.Command, args []string) string {
	ps := positionals(c.Use)
	var missing []string
	maxN := 0
	for i, p := range ps {
		if p.variadic {
			maxN = -1
		} else if maxN >= 0 {
			maxN++
		}
		if p.required && i >= len(args) {
			missing = append(missing, p.name)
		}
	}
	switch {
	case len(missing) == 1:
		return fmt.Sprintf("missing argument %s", missing[0])
	case len(missing) > 1:
		return fmt.Sprintf("missing arguments %s", strings.Join(missing, " "))
	case maxN == 0 && len(args) > 0:
		return fmt.Sprintf("%s takes no arguments; got %q", c.Name(), args[0])
	case maxN > 0 && len(args) > maxN:
		return fmt.Sprintf("unexpected argument %q: %s takes at most %d", args[maxN], c.Name(), maxN)
	}
	return ""
}

// friendlyArgs wraps the argument validator of c and its sub-commands so
// that a wrong argument count names what is missing or extra.
func friendlyArgs(c *cobra.Command) {
	if orig := c.Args; orig != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := orig(cmd, args)
			if err == nil {
				return nil
			}
			if msg := argsMessage(cmd, args); msg != "" && !cmd.HasSubCommands() {
				return usageErr("%s", msg)
			}
			return usageErr("%s", err.Error())
		}
	}
	for _, sub := range c.Commands() {
		friendlyArgs(sub)
	}
}

// usageHint is the hint of a usage error without one of its own.
func usageHint(c *cobra.Command) string {
	if c.HasAvailableSubCommands() {
		return fmt.Sprintf("see `%s --help` for the commands", c.CommandPath())
	}
	return fmt.Sprintf("see `%s --help` for the arguments and an example", c.CommandPath())
}
