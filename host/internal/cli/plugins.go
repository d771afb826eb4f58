package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/daemon"
	"github.com/acs-connector/acs-connector/host/internal/logging"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
)

func loadConfig(fs *flag.FlagSet, path string) (*config.Config, error) {
	if path == "" {
		return nil, fmt.Errorf("--config is required")
	}
	return config.Load(path)
}

func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	cfg, err := loadConfig(fs, *cfgPath)
	if err != nil {
		return fail(stderr, err)
	}
	m := pluginmgr.New(pluginmgr.Options{Logger: logging.New(stderr, logging.Options{Level: "warn", Format: "text"})})
	defer m.Stop(context.Background())
	if err := m.Start(ctx, daemon.PluginSpecs(cfg)); err != nil {
		return fail(stderr, err)
	}
	if err := m.CheckCapabilities(cfg.RequiredCapabilities()); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "%s: OK (%d plugins, %d jobs)\n", cfg.File, len(cfg.Plugins), len(cfg.Jobs))
	return 0
}

func runPluginsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugins list", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	cfg, err := loadConfig(fs, *cfgPath)
	if err != nil {
		return fail(stderr, err)
	}
	running := daemonPluginStates(cfg)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPLUGIN\tVERSION\tPROTOCOL\tCAPABILITIES\tCHECKSUM\tSTATE")
	bad := false
	for _, spec := range daemon.PluginSpecs(cfg) {
		m := pluginmgr.New(pluginmgr.Options{})
		err := m.Start(ctx, []pluginmgr.Spec{spec})
		checksum := "ok"
		var ce *pluginmgr.ChecksumError
		switch {
		case err == nil:
		case asChecksum(err, &ce):
			checksum = "MISMATCH"
		case strings.Contains(err.Error(), "not pinned"):
			checksum = "unpinned"
		default:
			checksum = "?"
		}
		state := "not running"
		if s, ok := running[spec.Name]; ok {
			state = s
		}
		if err != nil {
			bad = true
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t%s\t%s (start failed: %s)\n", spec.Name, checksum, state, firstLine(err.Error()))
			continue
		}
		p, _ := m.Get(spec.Name)
		info := p.Info()
		fmt.Fprintf(tw, "%s\t%s\t%s\tv%d\t%s\t%s\t%s\n", spec.Name, info.Name, info.Version, info.Protocol, strings.Join(info.Capabilities, ","), checksum, state)
		m.Stop(context.Background())
	}
	tw.Flush()
	if bad {
		return 1
	}
	return 0
}

func asChecksum(err error, target **pluginmgr.ChecksumError) bool {
	return err != nil && errorsAs(err, target)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// daemonPluginStates asks a running daemon (at the config's listen address)
// how its plugins are doing; an unreachable daemon yields nothing.
func daemonPluginStates(cfg *config.Config) map[string]string {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + cfg.Server.Listen + "/readyz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Plugins map[string]struct {
			Up       bool `json:"up"`
			Restarts int  `json:"restarts"`
			Pid      int  `json:"pid"`
		} `json:"plugins"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	out := map[string]string{}
	for name, p := range body.Plugins {
		if p.Up {
			out[name] = fmt.Sprintf("running (pid %d, %d restarts)", p.Pid, p.Restarts)
		} else {
			out[name] = fmt.Sprintf("down (%d restarts)", p.Restarts)
		}
	}
	return out
}

func runPluginsInstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugins install", flag.ContinueOnError)
	dir := fs.String("dir", "/usr/local/lib/acs-connector/plugins", "plugin directory")
	paths, ok := parseFlags(fs, args, stderr)
	if !ok {
		return 2
	}
	if len(paths) == 0 {
		return fail(stderr, fmt.Errorf("plugins install: give at least one plugin binary"))
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fail(stderr, err)
	}
	lf, err := pluginmgr.ReadLockFile(*dir)
	if err != nil {
		return fail(stderr, err)
	}
	for _, src := range paths {
		entry, dst, err := installOne(ctx, src, *dir)
		if err != nil {
			return fail(stderr, fmt.Errorf("install %s: %w", src, err))
		}
		lf.Plugins[filepath.Base(dst)] = entry
		fmt.Fprintf(stdout, "installed %s %s (protocol v%d) as %s\n  sha256 %s\n", entry.Name, entry.Version, entry.Protocol, dst, entry.SHA256)
	}
	if err := lf.Write(*dir); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// installOne copies a binary into dir (unless it is already there), then
// runs it once to learn its name, version and protocol, so the lock file
// records what was actually installed.
func installOne(ctx context.Context, src, dir string) (pluginmgr.LockEntry, string, error) {
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return pluginmgr.LockEntry{}, "", err
	}
	absDir, _ := filepath.Abs(dir)
	dst := filepath.Join(absDir, filepath.Base(absSrc))
	if absSrc != dst {
		if err := copyExecutable(absSrc, dst); err != nil {
			return pluginmgr.LockEntry{}, "", err
		}
	}
	sum, err := pluginmgr.FileSHA256(dst)
	if err != nil {
		return pluginmgr.LockEntry{}, "", err
	}
	raw, _ := hex.DecodeString(sum)
	c, err := protocol.Start(protocol.ClientConfig{Path: dst, SHA256: raw, Env: []string{"PATH=/usr/bin:/bin"}, StartTimeout: 15 * time.Second})
	if err != nil {
		return pluginmgr.LockEntry{}, "", fmt.Errorf("%s is not a working acs-connector plugin: %w", src, err)
	}
	defer c.Kill()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := c.Conn().Describe(dctx, &pb.DescribeRequest{})
	if err != nil {
		return pluginmgr.LockEntry{}, "", fmt.Errorf("describe: %w", err)
	}
	return pluginmgr.LockEntry{Name: d.GetName(), Version: d.GetVersion(), Protocol: c.ProtocolVersion(), SHA256: sum, InstalledAt: time.Now().UTC()}, dst, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func runPluginsVerify(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugins verify", flag.ContinueOnError)
	dir := fs.String("dir", "", "plugin directory")
	cfgPath := fs.String("config", "", "config file: verify the plugins it uses")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	type item struct{ name, path, want, source string }
	var items []item
	switch {
	case *cfgPath != "":
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return fail(stderr, err)
		}
		for _, name := range cfg.PluginNames() {
			p := cfg.Plugins[name]
			want, source := p.SHA256, cfg.Pos("plugins", name, "sha256")
			if want == "" {
				lf, err := pluginmgr.ReadLockFile(filepath.Dir(p.Path))
				if err != nil {
					return fail(stderr, err)
				}
				want = lf.Plugins[filepath.Base(p.Path)].SHA256
				source = filepath.Join(filepath.Dir(p.Path), pluginmgr.LockFileName)
			}
			items = append(items, item{name, p.Path, want, source})
		}
	default:
		if *dir == "" {
			*dir = "/usr/local/lib/acs-connector/plugins"
		}
		lf, err := pluginmgr.ReadLockFile(*dir)
		if err != nil {
			return fail(stderr, err)
		}
		if len(lf.Plugins) == 0 {
			return fail(stderr, fmt.Errorf("no plugins pinned in %s", filepath.Join(*dir, pluginmgr.LockFileName)))
		}
		for _, n := range lf.Names() {
			items = append(items, item{n, filepath.Join(*dir, n), lf.Plugins[n].SHA256, filepath.Join(*dir, pluginmgr.LockFileName)})
		}
	}
	bad := 0
	for _, it := range items {
		got, err := pluginmgr.FileSHA256(it.path)
		switch {
		case err != nil:
			bad++
			fmt.Fprintf(stdout, "MISSING   %s  %s: %v\n", it.name, it.path, err)
		case it.want == "":
			bad++
			fmt.Fprintf(stdout, "UNPINNED  %s  %s (sha256 %s)\n", it.name, it.path, got)
		case got != it.want:
			bad++
			fmt.Fprintf(stdout, "MISMATCH  %s  %s: sha256 %s, %s expects %s\n", it.name, it.path, got, it.source, it.want)
		default:
			fmt.Fprintf(stdout, "OK        %s  %s\n", it.name, it.path)
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "acs-connector: %d of %d plugin binaries failed verification\n", bad, len(items))
		return 1
	}
	return 0
}
