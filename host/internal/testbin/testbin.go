// Package testbin builds real binaries for tests (plugins, the host) and
// pins them in a plugin lock file, so tests run them through the same
// subprocess path production uses. It is imported only by _test files.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
)

// Build compiles each binary (name -> package path relative to the module
// root, e.g. "csvdir": "./plugins/csvdir") into a new temporary directory,
// pins every binary in that directory's lock file, and returns the
// directory.
func Build(bins map[string]string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "acs-testbin")
	if err != nil {
		return "", err
	}
	lf := &pluginmgr.LockFile{Version: 1, Plugins: map[string]pluginmgr.LockEntry{}}
	for name, pkg := range bins {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("build %s: %v\n%s", pkg, err, msg)
		}
		sum, err := pluginmgr.FileSHA256(out)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		lf.Plugins[name] = pluginmgr.LockEntry{Name: name, SHA256: sum, InstalledAt: time.Now()}
	}
	if err := lf.Write(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// Main is a TestMain body: it builds bins into *dir, runs the tests, removes
// the binaries and exits with the tests' code.
func Main(m *testing.M, dir *string, bins map[string]string) {
	d, err := Build(bins)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// Root is the module root directory.
func Root() string {
	root, err := moduleRoot()
	if err != nil {
		panic(err)
	}
	return root
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the acs-connector module")
	}
	return filepath.Dir(mod), nil
}
