package daemon

import (
	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
)

// PluginSpecs turns the config's plugin blocks into manager specs.
func PluginSpecs(cfg *config.Config) []pluginmgr.Spec {
	var specs []pluginmgr.Spec
	for _, name := range cfg.PluginNames() {
		p := cfg.Plugins[name]
		specs = append(specs, pluginmgr.Spec{
			Name:         name,
			Path:         p.Path,
			WorkDir:      cfg.BaseDir,
			SHA256:       p.SHA256,
			SHA256Source: cfg.Pos("plugins", name, "sha256"),
			Env:          p.Env,
			ConfigJSON:   p.PluginConfigJSON(),
			ConfigSource: cfg.Pos("plugins", name, "config"),
			StartTimeout: p.StartTimeout.Duration,
			CallTimeout:  p.CallTimeout.Duration,
			MinBackoff:   p.Restart.MinDelay.Duration,
			MaxBackoff:   p.Restart.MaxDelay.Duration,
		})
	}
	return specs
}
