// Package cli implements the acs-connector command line. Each command is a
// function from arguments to an exit code so tests can run it in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/acs-connector/acs-connector/host/internal/buildinfo"
	"github.com/acs-connector/acs-connector/proto/protocol"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"version", "print the version and the plugin protocol versions", runVersion},
		{"run", "run the daemon: --config F", runDaemon},
		{"config check", "validate a config, start its plugins and check their capabilities: --config F", runConfigCheck},
		{"plugins list", "list configured plugins with version, protocol, capabilities, checksum and state: --config F", runPluginsList},
		{"plugins install", "copy plugin binaries into a plugin directory and pin them in its lock file: PATH... [--dir D]", runPluginsInstall},
		{"plugins verify", "check every pinned plugin binary against the lock file: [--dir D | --config F]", runPluginsVerify},
		{"sync", "run one job now: JOB --config F", runSync},
		{"feed export", "build and validate a feed without uploading: --config F --job J --out FILE [--errors FILE]", runFeedExport},
		{"feed validate", "check a feed CSV/TSV against Stripe's spec: FILE [--kind product|inventory|price]", runFeedValidate},
		{"feeds status", "list recent uploads and their import status: --config F", runFeedsStatus},
		{"simulate checkout", "play Stripe and an agent against a running host: --config F --sku SKU --qty N [--country US]", runSimulateCheckout},
	}
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			// `run` installs its own signal handling (SIGHUP, two-stage stop).
			if c.name == "run" {
				stop()
				ctx = context.Background()
			}
			return c.run(ctx, args[len(words):], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "acs-connector: unknown command %q\n\n", strings.Join(args, " "))
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: acs-connector COMMAND [flags]\n\ncommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	var vs []string
	for _, v := range protocol.HostVersions {
		vs = append(vs, fmt.Sprintf("v%d", v))
	}
	fmt.Fprintf(stdout, "acs-connector %s\nplugin protocol: %s\n", buildinfo.Version, strings.Join(vs, ", "))
	return 0
}

// flags parses args with positional arguments allowed before and after
// flags (Go's flag package stops at the first positional).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, bool) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "acs-connector: %v\n", err)
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	return 1
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }
