package sdk

import (
	"fmt"
	"os"
	"strings"
	"time"

	pb "github.com/acs-connector/acs-connector/proto/connector/v1"
	"github.com/acs-connector/acs-connector/proto/protocol"
	"github.com/acs-connector/acs-connector/sdk/internal/bridge"
)

func init() {
	bridge.NewServer = func(p any) pb.ConnectorServer { return newServer(p.(Plugin)) }
}

// Serve runs p as a plugin process. It returns only when the host is done
// with the plugin. Run by hand (without the host's handshake cookie), the
// binary answers `version` and `sample-config` and otherwise explains itself.
func Serve(p Plugin) {
	if os.Getenv(protocol.Handshake.MagicCookieKey) != protocol.Handshake.MagicCookieValue {
		os.Exit(runCLI(p, os.Args[1:]))
	}
	// go-plugin replaces os.Stderr with its stdio stream once serving; the
	// logger keeps the real stderr so go-plugin can parse its JSON lines.
	realStderr := os.Stderr
	setLogOutput(realStderr)
	go watchParent(os.Getppid())
	protocol.Serve(protocol.ServeConfig{Impl: newServer(p), LogOutput: realStderr})
}

func runCLI(p Plugin, args []string) int {
	info := p.Info()
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "version", "--version":
		fmt.Printf("%s %s (protocol %s)\n", info.Name, info.Version, versions())
		return 0
	case "sample-config":
		fmt.Print(info.SampleConfig)
		return 0
	case "capabilities":
		fmt.Println(strings.Join(Capabilities(p), "\n"))
		return 0
	}
	fmt.Fprintf(os.Stderr, "%s is an acs-connector plugin; acs-connector starts it.\n"+
		"Commands: version, sample-config, capabilities\n", info.Name)
	return 2
}

func versions() string {
	var s []string
	for _, v := range protocol.PluginVersions {
		s = append(s, fmt.Sprintf("v%d", v))
	}
	return strings.Join(s, ",")
}

// watchParent exits when the host disappears without killing us (a SIGKILLed
// host off systemd). Under systemd the cgroup would clean up; elsewhere an
// orphaned plugin would hold files and connections forever.
func watchParent(ppid int) {
	for {
		time.Sleep(time.Second)
		if os.Getppid() != ppid {
			Logger().Warn("host process went away; plugin exiting", "old_parent", ppid)
			os.Exit(0)
		}
	}
}
