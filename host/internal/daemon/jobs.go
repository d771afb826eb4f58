package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/scheduler"
)

func (d *Daemon) addJob(j *config.Job) error {
	fn, err := d.app.jobFunc(j)
	if err != nil {
		return fmt.Errorf("%s: %w", d.cfg.Load().Pos("jobs", j.Name), err)
	}
	return d.sched.Add(j.Name, j.Schedule, j.Timeout.Or(0), fn)
}

// runAtStart runs the jobs marked run_at_start once, in the background, in
// config order by type: catalog first so inventory and price rows refer to
// products Stripe already knows.
func (d *Daemon) runAtStart(cfg *config.Config) {
	var names []string
	for _, typ := range []string{config.JobCatalog, config.JobInventory, config.JobPrice, config.JobReconcile, config.JobOrderUpdates} {
		for _, name := range cfg.JobNames() {
			if j := cfg.Jobs[name]; j.RunAtStart && j.Type == typ {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		for _, name := range names {
			if !d.ready.Load() {
				return
			}
			if err := d.sched.RunNow(context.Background(), name); errors.Is(err, scheduler.ErrSkipped) {
				// Another host sharing the database is running it.
				d.log.Info("start-up run skipped", "job", name, "reason", err)
			} else if err != nil {
				d.log.Warn("start-up run failed", "job", name, "err", err)
			}
			// Stripe processes uploads asynchronously; inventory rows for
			// products whose catalog import is still running would be
			// rejected, so give the previous import a moment to land.
			d.waitForImports(2 * time.Minute)
		}
	}()
}

func (d *Daemon) waitForImports(max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && d.ready.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pending, err := d.store.PendingUploads(ctx)
		cancel()
		if err != nil || len(pending) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}
