package pluginmgr

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// LockFileName is the lock file kept beside plugin binaries. It pins each
// binary's sha256, like Terraform's dependency lock, so a swapped binary is
// refused at start instead of run with the host's privileges.
const LockFileName = "acs-plugins.lock"

// LockEntry records one installed plugin binary.
type LockEntry struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Protocol    int       `json:"protocol"`
	SHA256      string    `json:"sha256"`
	InstalledAt time.Time `json:"installed_at"`
}

// LockFile maps binary file names to entries.
type LockFile struct {
	Version int                  `json:"version"`
	Plugins map[string]LockEntry `json:"plugins"`
}

// ReadLockFile reads dir's lock file; a missing file is an empty lock.
func ReadLockFile(dir string) (*LockFile, error) {
	lf := &LockFile{Version: 1, Plugins: map[string]LockEntry{}}
	data, err := os.ReadFile(filepath.Join(dir, LockFileName))
	if errors.Is(err, os.ErrNotExist) {
		return lf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin lock file: %w", err)
	}
	if err := json.Unmarshal(data, lf); err != nil {
		return nil, fmt.Errorf("plugin lock file %s: %w", filepath.Join(dir, LockFileName), err)
	}
	if lf.Plugins == nil {
		lf.Plugins = map[string]LockEntry{}
	}
	return lf, nil
}

// Write replaces dir's lock file atomically.
func (lf *LockFile) Write(dir string) error {
	data, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, LockFileName), append(data, '\n'), 0o644)
}

// Names lists binaries in the lock file, sorted.
func (lf *LockFile) Names() []string {
	names := make([]string, 0, len(lf.Plugins))
	for n := range lf.Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ChecksumError names the binary and both hashes.
type ChecksumError struct {
	Path, Expected, Actual, Source string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin binary %s has sha256 %s, but %s expects %s: refusing to run it (reinstall with `acs-connector plugins install`, or update the pin if you replaced it on purpose)",
		e.Path, e.Actual, e.Source, e.Expected)
}

// expectedHash finds the pin for a binary: config first, then the lock file
// beside the binary.
func expectedHash(path, configured, configPos string) (hash, source string, err error) {
	if configured != "" {
		return configured, configPos + " (sha256)", nil
	}
	dir := filepath.Dir(path)
	lf, err := ReadLockFile(dir)
	if err != nil {
		return "", "", err
	}
	e, ok := lf.Plugins[filepath.Base(path)]
	if !ok {
		return "", "", fmt.Errorf("plugin binary %s is not pinned: no sha256 in the config and no entry in %s; run `acs-connector plugins install %s`",
			path, filepath.Join(dir, LockFileName), path)
	}
	return e.SHA256, filepath.Join(dir, LockFileName), nil
}
