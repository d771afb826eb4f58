// Package scheduler runs the host's jobs on cron schedules. It wraps
// robfig/cron/v3 with what a daemon needs and the library leaves out: panic
// recovery (v3 does not recover by default), skip-if-still-running with a
// log line and a metric, a per-tick lock so that of several hosts sharing
// one database exactly one runs each tick, a timeout per run, and a record
// of every run for the status page.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/metrics"
)

// JobFunc does one run. The summary appears on the status page.
type JobFunc func(ctx context.Context) (summary string, err error)

// ErrSkipped is returned (wrapped) by RunNow when the job did not run
// because a run of it is in progress, on this host or another.
var ErrSkipped = errors.New("skipped")

// RunStore records runs and arbitrates ticks between hosts.
type RunStore interface {
	StartRun(ctx context.Context, job string, tick time.Time, host string) (int64, error)
	FinishRun(ctx context.Context, runID int64, outcome, message string) error
	// TryLockTick returns ok=false when another host holds or already ran
	// this job's tick.
	TryLockTick(ctx context.Context, job string, tick time.Time) (unlock func(), ok bool, err error)
}

// Options configure a scheduler.
type Options struct {
	Location *time.Location
	Logger   *slog.Logger
	Metrics  *metrics.Metrics
	Store    RunStore
	// HostID names this host in run records.
	HostID string
}

// Scheduler owns the cron instance and the jobs.
type Scheduler struct {
	opt  Options
	cron *cron.Cron
	// base is cancelled by Stop's deadline so long jobs see ctx.Done.
	base    context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	jobs    map[string]*job
	started bool
}

type job struct {
	name     string
	spec     string
	schedule cron.Schedule
	timeout  time.Duration
	fn       JobFunc
	id       cron.EntryID
	running  sync.Mutex
	state    sync.Mutex
	last     Outcome
}

// Outcome describes a finished run.
type Outcome struct {
	Started  time.Time
	Finished time.Time
	OK       bool
	Summary  string
	Error    string
	Skipped  string
}

// New returns a stopped scheduler.
func New(opt Options) *Scheduler {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		opt:    opt,
		cron:   cron.New(cron.WithParser(config.CronParser), cron.WithLocation(opt.Location), cron.WithLogger(cronLogger{opt.Logger})),
		base:   ctx,
		cancel: cancel,
		jobs:   map[string]*job{},
	}
}

// Add schedules a job. The spec is validated with the config's parser.
func (s *Scheduler) Add(name, spec string, timeout time.Duration, fn JobFunc) error {
	sched, err := parseSchedule(spec)
	if err != nil {
		return fmt.Errorf("job %s: %w", name, err)
	}
	if timeout == 0 {
		timeout = time.Hour
	}
	j := &job{name: name, spec: spec, schedule: sched, timeout: timeout, fn: fn}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.jobs[name]; ok {
		s.cron.Remove(old.id)
	}
	j.id = s.cron.Schedule(sched, cron.FuncJob(func() { s.tick(j) }))
	s.jobs[name] = j
	return nil
}

// Remove unschedules a job; a run in progress finishes.
func (s *Scheduler) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[name]; ok {
		s.cron.Remove(j.id)
		delete(s.jobs, name)
	}
}

// Has reports whether a job is scheduled.
func (s *Scheduler) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.jobs[name]
	return ok
}

// Start begins firing schedules.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.cron.Start()
		s.started = true
	}
}

// Stop stops scheduling and waits for running jobs until ctx is done; then
// it cancels their contexts and waits a little more for them to notice.
func (s *Scheduler) Stop(ctx context.Context) error {
	done := s.cron.Stop().Done()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	select {
	case <-done:
		return errors.New("jobs were cancelled at the shutdown deadline")
	case <-time.After(5 * time.Second):
		return errors.New("jobs still running after cancellation")
	}
}

// tick is what cron calls. The tick time is the schedule's activation that
// just passed, so every host computes the same tick for the same firing.
func (s *Scheduler) tick(j *job) {
	s.run(s.base, j, activation(j.schedule, time.Now().In(s.opt.Location)), true)
}

// tickLookback bounds how late after its activation a firing may be
// attributed to it.
const tickLookback = time.Minute

// activation returns the latest activation of sched at or before now: the
// one cron just fired for. Hosts whose clocks agree compute the same tick for
// the same firing even when the schedule's period is shorter than the time
// they take to react. A firing later than tickLookback falls back to now's
// second.
func activation(sched cron.Schedule, now time.Time) time.Time {
	t := sched.Next(now.Add(-tickLookback))
	if t.IsZero() || t.After(now) {
		return now.Truncate(time.Second)
	}
	for {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) || !n.After(t) {
			return t
		}
		t = n
	}
}

// anchoredEvery is "@every d" pinned to the clock: it fires at the
// multiples of d (since Go's zero time, so @every 24h fires at midnight UTC)
// instead of d after the process started. robfig's ConstantDelaySchedule
// gives every host its own phase, so the per-tick lock, which arbitrates
// between hosts computing the same tick, would let every host run the job.
type anchoredEvery struct{ every time.Duration }

func (a anchoredEvery) Next(t time.Time) time.Time { return t.Truncate(a.every).Add(a.every) }

// parseSchedule parses spec with the config's parser, anchoring @every.
func parseSchedule(spec string) (cron.Schedule, error) {
	sched, err := config.ParseSchedule(spec)
	if err != nil {
		return nil, err
	}
	if c, ok := sched.(cron.ConstantDelaySchedule); ok && c.Delay > 0 {
		return anchoredEvery{c.Delay}, nil
	}
	return sched, nil
}

// RunNow runs a job immediately (the `sync` command, run_at_start), still
// subject to skip-if-running, on this host and (through the store's lock) on
// the others. Its tick is the current time to the microsecond, so it never
// takes a scheduled (whole-second) tick's place. It returns the run's error.
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no job named %q", name)
	}
	o := s.run(ctx, j, time.Now().In(s.opt.Location).Truncate(time.Microsecond), false)
	if o.Skipped != "" {
		return fmt.Errorf("job %s %w: %s", name, ErrSkipped, o.Skipped)
	}
	if !o.OK {
		return errors.New(o.Error)
	}
	return nil
}

func (s *Scheduler) run(parent context.Context, j *job, tick time.Time, scheduled bool) (out Outcome) {
	log := s.opt.Logger.With("job", j.name)
	out.Started = time.Now()
	if !j.running.TryLock() {
		out.Skipped = "previous run still in progress"
		log.Warn("job skipped: previous run still in progress")
		s.opt.Metrics.Inc(metrics.JobSkippedC, j.name, "still_running")
		return out
	}
	defer j.running.Unlock()

	ctx, cancel := context.WithTimeout(parent, j.timeout)
	defer cancel()
	// Unscheduled runs take the lock too: a start-up run or `sync` must not
	// run alongside a scheduled run of the same job on another host.
	if s.opt.Store != nil {
		unlock, ok, err := s.opt.Store.TryLockTick(ctx, j.name, tick)
		if err != nil {
			out.Error = fmt.Sprintf("tick lock: %v", err)
			log.Error("job not run: could not take the tick lock", "tick", tick, "err", err)
			s.opt.Metrics.Inc(metrics.JobRunsC, j.name, "error")
			s.record(j, out)
			return out
		}
		if !ok {
			if !scheduled {
				out.Skipped = "another run of the job is in progress (on another host)"
				log.Info("job skipped: another host is running it")
				s.opt.Metrics.Inc(metrics.JobSkippedC, j.name, "other_host")
				return out
			}
			out.Skipped = "tick taken by another host"
			log.Info("job tick skipped: another host runs it", "tick", tick)
			s.opt.Metrics.Inc(metrics.JobSkippedC, j.name, "other_host")
			return out
		}
		defer unlock()
	}
	var runID int64
	if s.opt.Store != nil {
		id, err := s.opt.Store.StartRun(ctx, j.name, tick, s.opt.HostID)
		if err != nil {
			log.Warn("could not record job start", "err", err)
		}
		runID = id
	}
	summary, err := safeRun(ctx, j.fn)
	out.Finished = time.Now()
	dur := out.Finished.Sub(out.Started)
	s.opt.Metrics.Observe(metrics.JobDurationH, dur.Seconds(), j.name)
	outcome := "ok"
	if err != nil {
		outcome = "error"
		out.Error = err.Error()
		log.Error("job failed", "duration", dur.Round(time.Millisecond), "err", err)
	} else {
		out.OK, out.Summary = true, summary
		log.Info("job finished", "duration", dur.Round(time.Millisecond), "summary", summary)
		s.opt.Metrics.Set(metrics.JobLastSuccessG, float64(out.Finished.Unix()), j.name)
	}
	s.opt.Metrics.Inc(metrics.JobRunsC, j.name, outcome)
	if s.opt.Store != nil && runID != 0 {
		msg := summary
		if err != nil {
			msg = err.Error()
		}
		// The run's own context may be spent; the record must still land.
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		if ferr := s.opt.Store.FinishRun(fctx, runID, outcome, msg); ferr != nil {
			log.Warn("could not record job result", "err", ferr)
		}
		fcancel()
	}
	s.record(j, out)
	return out
}

func (s *Scheduler) record(j *job, o Outcome) {
	j.state.Lock()
	j.last = o
	j.state.Unlock()
}

func safeRun(ctx context.Context, fn JobFunc) (summary string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("job panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(ctx)
}

// Entry is a job's schedule state for status pages.
type Entry struct {
	Name    string
	Spec    string
	Next    time.Time
	Prev    time.Time
	Running bool
	Last    Outcome
}

// Entries lists jobs sorted by name.
func (s *Scheduler) Entries() []Entry {
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	out := make([]Entry, 0, len(jobs))
	for _, j := range jobs {
		ce := s.cron.Entry(j.id)
		e := Entry{Name: j.name, Spec: j.spec, Next: ce.Next, Prev: ce.Prev}
		if e.Next.IsZero() {
			e.Next = j.schedule.Next(time.Now().In(s.opt.Location))
		}
		if j.running.TryLock() {
			j.running.Unlock()
		} else {
			e.Running = true
		}
		j.state.Lock()
		e.Last = j.last
		j.state.Unlock()
		out = append(out, e)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

// cronLogger adapts robfig/cron's logr-style logger to slog (its default
// writes to stdout).
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...interface{}) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...interface{}) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
