package protocol

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	connectorv1 "github.com/acs-connector/acs-connector/proto/connector/v1"
)

// ClientConfig describes one start of one plugin process. The host builds a
// fresh one for every start: go-plugin clients, commands and hashers cannot
// be reused after a process has exited.
type ClientConfig struct {
	// Path of the plugin binary; executed directly, never through a shell,
	// so the checksum covers the program that actually runs.
	Path string
	Args []string
	// Dir is the plugin's working directory; relative paths in its config
	// resolve against it.
	Dir string
	// Env is the plugin's entire environment. The host's own environment is
	// never passed on: it holds Stripe keys and NOTIFY_SOCKET.
	Env []string
	// SHA256 of the binary, checked by go-plugin right before exec. Nil skips
	// the check (tests with in-process reattach only). This is the only time
	// the binary is hashed: a mismatch comes back as a *ChecksumError that
	// carries the hash go-plugin computed, so callers need no hash of their
	// own (which would read the ~20 MB file a second time, and check a file
	// earlier than the one exec runs).
	SHA256 []byte
	// SocketDir is where go-plugin creates the plugin's unix socket.
	SocketDir    string
	Logger       *slog.Logger
	StartTimeout time.Duration
	// Stderr receives a raw copy of everything the plugin writes to stderr.
	Stderr io.Writer
	// Reattach connects to a plugin served in-process (tests).
	Reattach *plugin.ReattachConfig
	// DialOptions add client interceptors (metrics).
	DialOptions []grpc.DialOption
	// Versions overrides HostVersions (tests).
	Versions []int
}

// Client is one running plugin process.
type Client struct {
	pc      *plugin.Client
	conn    *Conn
	version int
}

// Start launches (or reattaches to) a plugin and completes the handshake.
func Start(cfg ClientConfig) (*Client, error) {
	versions := cfg.Versions
	if len(versions) == 0 {
		versions = HostVersions
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	var sum *sumRecorder
	pcfg := &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(versions, nil),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           newSlogAdapter(logger, "plugin"),
		StartTimeout:     timeout,
		GRPCDialOptions: append([]grpc.DialOption{
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(MaxMessageBytes),
				grpc.MaxCallSendMsgSize(MaxMessageBytes),
				// The "proto" codec, except that record batches are
				// received with one copy of their packed rows, not two.
				grpc.ForceCodecV2(connectorv1.Codec()),
			),
		}, cfg.DialOptions...),
		SyncStdout: &lineWriter{log: func(s string) { logger.Info(s, "stream", "stdout") }},
		SyncStderr: &lineWriter{log: func(s string) { logger.Warn(s, "stream", "stderr") }},
		Stderr:     cfg.Stderr,
	}
	if cfg.Reattach != nil {
		pcfg.Reattach = cfg.Reattach
		// On reattach go-plugin skips negotiation and reads only Plugins.
		v := cfg.Reattach.ProtocolVersion
		if v == 0 {
			v = versions[len(versions)-1]
		}
		pcfg.Plugins = pcfg.VersionedPlugins[v]
	} else {
		cmd := exec.Command(cfg.Path, cfg.Args...)
		cmd.Env = cfg.Env
		cmd.Dir = cfg.Dir
		pcfg.Cmd = cmd
		pcfg.SkipHostEnv = true
		pcfg.AutoMTLS = true
		if cfg.SocketDir != "" {
			pcfg.UnixSocketConfig = &plugin.UnixSocketConfig{TempDir: cfg.SocketDir}
		}
		if cfg.SHA256 != nil {
			sum = &sumRecorder{Hash: sha256.New()}
			pcfg.SecureConfig = &plugin.SecureConfig{Checksum: cfg.SHA256, Hash: sum}
		}
		// AutoMTLS makes a P-521 key right after the checksum; building
		// the curve's base-point table (once per process, ~6 ms) on
		// another core while the binary is hashed takes it off the path.
		go warmP521.Do(func() { _, _ = ecdsa.GenerateKey(elliptic.P521(), rand.Reader) })
	}
	pc := plugin.NewClient(pcfg)
	rpc, err := pc.Client()
	if err != nil {
		pc.Kill()
		if sum != nil && errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, &ChecksumError{Path: cfg.Path, Expected: cfg.SHA256, Actual: sum.sum}
		}
		return nil, explainStartError(cfg.Path, versions, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("plugin %s: dispense: %w", cfg.Path, err)
	}
	conn, ok := raw.(*Conn)
	if !ok {
		pc.Kill()
		return nil, fmt.Errorf("plugin %s: unexpected client type %T", cfg.Path, raw)
	}
	return &Client{pc: pc, conn: conn, version: pc.NegotiatedVersion()}, nil
}

// Conn returns the typed client.
func (c *Client) Conn() *Conn { return c.conn }

// ProtocolVersion is the negotiated application protocol major.
func (c *Client) ProtocolVersion() int { return c.version }

// Exited reports whether the plugin process has exited.
func (c *Client) Exited() bool { return c.pc.Exited() }

// Done is closed when the plugin process exits.
func (c *Client) Done() <-chan struct{} { return c.conn.Done.Done() }

// Pid of the plugin process, 0 when reattached.
func (c *Client) Pid() int {
	if rc := c.pc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Kill stops the process: go-plugin asks it to shut down, waits two seconds,
// then kills it. Callers drain with the Stop RPC first.
func (c *Client) Kill() { c.pc.Kill() }

// ErrChecksum is returned (wrapped) when a binary does not match its recorded hash.
var ErrChecksum = errors.New("plugin checksum mismatch")

// ChecksumError is Start's error when the binary go-plugin was about to exec
// does not hash to ClientConfig.SHA256. It wraps ErrChecksum.
type ChecksumError struct {
	Path             string
	Expected, Actual []byte
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s: %v: sha256 %x, expected %x", e.Path, ErrChecksum, e.Actual, e.Expected)
}

func (e *ChecksumError) Unwrap() error { return ErrChecksum }

// sumRecorder keeps the digest go-plugin's SecureConfig.Check computes, which
// go-plugin itself only compares and drops.
type sumRecorder struct {
	hash.Hash
	sum []byte
}

func (r *sumRecorder) Sum(b []byte) []byte {
	out := r.Hash.Sum(b)
	r.sum = append([]byte(nil), out[len(b):]...)
	return out
}

var warmP521 sync.Once

// SkewError says which side must be upgraded when host and plugin share no
// protocol version.
type SkewError struct {
	Path           string
	PluginVersion  int
	HostVersions   []int
	underlyingText string
}

func (e *SkewError) Error() string {
	newest := e.HostVersions[len(e.HostVersions)-1]
	oldest := e.HostVersions[0]
	if e.PluginVersion > newest {
		return fmt.Sprintf("plugin %s speaks protocol v%d, but this acs-connector speaks only %s: upgrade acs-connector, or install a plugin build for protocol v%d",
			e.Path, e.PluginVersion, versionList(e.HostVersions), newest)
	}
	return fmt.Sprintf("plugin %s speaks protocol v%d, which this acs-connector no longer supports (it speaks %s): upgrade the plugin to one built for protocol v%d or newer",
		e.Path, e.PluginVersion, versionList(e.HostVersions), oldest)
}

func versionList(vs []int) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += "v" + strconv.Itoa(v)
	}
	return s
}

// go-plugin has no typed version error (hashicorp/go-plugin#191), so its
// message is matched here, in the one place that knows go-plugin.
var skewRE = regexp.MustCompile(`incompatible API version with plugin\. Plugin version: (\d+)`)

func explainStartError(path string, versions []int, err error) error {
	if m := skewRE.FindStringSubmatch(err.Error()); m != nil {
		v, _ := strconv.Atoi(m[1])
		return &SkewError{Path: path, PluginVersion: v, HostVersions: versions, underlyingText: err.Error()}
	}
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		return fmt.Errorf("plugin %s: %w (the binary changed after it was verified)", path, ErrChecksum)
	}
	return fmt.Errorf("start plugin %s: %w", path, err)
}
