package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/buildinfo"
	"github.com/acs-connector/acs-connector/host/internal/web"
)

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.Handle("GET /{$}", web.StatusHandler(d.collectStatus, d.log))
	d.app.routes(mux)
	return mux
}

type readyBody struct {
	Ready   bool                   `json:"ready"`
	Reason  string                 `json:"reason,omitempty"`
	Store   string                 `json:"store"`
	Mode    string                 `json:"mode"`
	Version string                 `json:"version"`
	Plugins map[string]pluginReady `json:"plugins"`
	Jobs    map[string]jobReady    `json:"jobs"`
}

type pluginReady struct {
	Up        bool   `json:"up"`
	Restarts  int    `json:"restarts"`
	Pid       int    `json:"pid,omitempty"`
	Version   string `json:"version,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

type jobReady struct {
	Next        time.Time `json:"next"`
	Running     bool      `json:"running"`
	LastOutcome string    `json:"last_outcome,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// readyz is 503 until the daemon is up, while it stops, and whenever the
// state store does not answer: without state nothing may be fulfilled. A
// down plugin is reported in the body but does not make the host unready,
// because hooks still get policy answers and other jobs still run.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	body := readyBody{Ready: d.ready.Load(), Store: "ok", Mode: d.mode(), Version: buildinfo.Version,
		Plugins: map[string]pluginReady{}, Jobs: map[string]jobReady{}}
	if !body.Ready {
		body.Reason = "starting or stopping"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := d.store.Ping(ctx); err != nil {
		body.Ready, body.Store, body.Reason = false, "unreachable: "+err.Error(), "state store unreachable"
	}
	for _, name := range d.plugins.Names() {
		if p, ok := d.plugins.Get(name); ok {
			s := p.Status()
			body.Plugins[name] = pluginReady{Up: s.Up, Restarts: s.Restarts, Pid: s.Pid, Version: s.Info.Version, LastError: s.LastError}
		}
	}
	for _, e := range d.sched.Entries() {
		jr := jobReady{Next: e.Next, Running: e.Running, LastError: e.Last.Error}
		switch {
		case e.Last.Started.IsZero():
		case e.Last.Skipped != "":
			jr.LastOutcome = "skipped"
		case e.Last.OK:
			jr.LastOutcome = "ok"
		default:
			jr.LastOutcome = "error"
		}
		body.Jobs[e.Name] = jr
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !body.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(body)
}

func (d *Daemon) collectStatus(ctx context.Context) (*web.Status, error) {
	cfg := d.cfg.Load()
	st := &web.Status{Generated: time.Now(), Version: buildinfo.Version, Mode: d.mode(), Ready: d.ready.Load(), OrderURL: d.orderURL()}
	if err := d.store.Ping(ctx); err != nil {
		st.Problem = "The state store does not answer: " + err.Error()
	}
	for _, name := range d.plugins.Names() {
		p, ok := d.plugins.Get(name)
		if !ok {
			continue
		}
		s := p.Status()
		st.Plugins = append(st.Plugins, web.Plugin{Name: name, Plugin: s.Info.Name, Version: s.Info.Version, Capabilities: joinComma(s.Info.Capabilities),
			Up: s.Up, Restarts: s.Restarts, LastError: s.LastError, Pid: s.Pid})
	}
	last := map[string]struct {
		started, finished time.Time
		outcome, msg      string
	}{}
	if runs, err := d.store.LastRuns(ctx); err == nil {
		for _, r := range runs {
			last[r.Job] = struct {
				started, finished time.Time
				outcome, msg      string
			}{r.StartedAt, r.FinishedAt, r.Outcome, r.Message}
		}
	}
	for _, e := range d.sched.Entries() {
		j := web.Job{Name: e.Name, Schedule: e.Spec, Next: e.Next, Running: e.Running, LastOutcome: "never"}
		if jc, ok := cfg.Jobs[e.Name]; ok {
			j.Type = jc.Type
		}
		if l, ok := last[e.Name]; ok {
			j.LastStarted, j.LastFinished, j.LastOutcome, j.LastMessage = l.started, l.finished, l.outcome, l.msg
		}
		// A skip on this host is newer news than the last recorded run.
		if e.Last.Skipped != "" && e.Last.Started.After(j.LastStarted) {
			j.LastOutcome, j.LastMessage = "skipped", e.Last.Skipped
		}
		st.Jobs = append(st.Jobs, j)
	}
	if err := d.app.fillStatus(ctx, st); err != nil {
		return st, err
	}
	return st, nil
}

func joinComma(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
