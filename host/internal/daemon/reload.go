package daemon

import (
	"context"
	"fmt"
	"reflect"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/pluginmgr"
)

// Reload re-reads the config. The new config is parsed and validated
// completely (YAML, cron specs, plugin binaries, plugin configs, capabilities)
// before anything running is touched; on any error the old config keeps
// running and the error is logged. Otherwise only changed plugins and jobs
// are restarted.
func (d *Daemon) Reload() {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.notify(sddaemon.SdNotifyReloading + "\n" + sddaemon.SdNotifyMonotonicUsec())
	defer d.notify(sddaemon.SdNotifyReady)
	if err := d.reload(); err != nil {
		d.log.Error("config reload rejected; still running the previous config", "err", err)
		return
	}
	d.log.Info("config reloaded")
}

func (d *Daemon) reload() error {
	old := d.cfg.Load()
	next, err := config.Load(d.opt.ConfigPath)
	if err != nil {
		return err
	}
	// Listener, state store and Stripe account are wired into everything
	// that runs; changing them safely needs a restart.
	for _, s := range []struct {
		name     string
		old, new any
	}{{"server.listen", old.Server.Listen, next.Server.Listen}, {"state", old.State, next.State},
		{"stripe.secret_key", old.Stripe.SecretKey, next.Stripe.SecretKey}, {"stripe.api_url", old.Stripe.APIURL, next.Stripe.APIURL}} {
		if !reflect.DeepEqual(s.old, s.new) {
			d.log.Warn("config change needs a restart to take effect; keeping the running value", "key", s.name)
		}
	}
	next.Server.Listen, next.State = old.Server.Listen, old.State
	next.Stripe.SecretKey, next.Stripe.APIURL = old.Stripe.SecretKey, old.Stripe.APIURL
	applyEmulatorSecrets(next, d.emuInfo)
	registerSecrets(next)

	oldSpecs := specMap(PluginSpecs(old))
	var changed []pluginmgr.Spec
	var removed []string
	for name, s := range specMap(PluginSpecs(next)) {
		if o, ok := oldSpecs[name]; !ok || !sameSpec(o, s) || pluginBinaryChanged(d, name) {
			changed = append(changed, s)
		}
	}
	for name := range oldSpecs {
		if _, ok := next.Plugins[name]; !ok {
			removed = append(removed, name)
		}
	}
	// Build the new job functions before touching anything, so a job that
	// cannot be set up (unknown plugin, say) rejects the whole reload.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	check := func(infos map[string]pluginmgr.Info) error {
		return pluginmgr.CheckCapabilities(infos, next.RequiredCapabilities())
	}
	if len(changed) > 0 || len(removed) > 0 {
		if err := d.plugins.Replace(ctx, changed, removed, check); err != nil {
			return err
		}
	} else if err := check(d.plugins.Infos()); err != nil {
		return err
	}
	if err := d.app.reload(next); err != nil {
		return fmt.Errorf("apply config: %w", err)
	}
	for _, name := range old.JobNames() {
		if _, ok := next.Jobs[name]; !ok {
			d.sched.Remove(name)
			d.log.Info("job removed", "job", name)
		}
	}
	changedPlugins := map[string]bool{}
	for _, s := range changed {
		changedPlugins[s.Name] = true
	}
	for _, name := range next.JobNames() {
		nj := next.Jobs[name]
		oj, existed := old.Jobs[name]
		if existed && reflect.DeepEqual(*oj, *nj) && !changedPlugins[nj.Plugin] && d.sched.Has(name) {
			continue
		}
		if err := d.addJob(nj); err != nil {
			return err
		}
		d.log.Info("job scheduled", "job", name, "schedule", nj.Schedule)
	}
	d.cfg.Store(next)
	return nil
}

func specMap(specs []pluginmgr.Spec) map[string]pluginmgr.Spec {
	m := make(map[string]pluginmgr.Spec, len(specs))
	for _, s := range specs {
		m[s.Name] = s
	}
	return m
}

func sameSpec(a, b pluginmgr.Spec) bool {
	return reflect.DeepEqual(a, b)
}

// pluginBinaryChanged catches a binary replaced on disk (a plugin upgrade)
// under an unchanged config.
func pluginBinaryChanged(d *Daemon, name string) bool {
	p, ok := d.plugins.Get(name)
	if !ok {
		return true
	}
	st := p.Status()
	sum, err := pluginmgr.FileSHA256(st.Path)
	return err != nil || sum != st.SHA256
}
