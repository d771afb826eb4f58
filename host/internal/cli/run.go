package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/acs-connector/acs-connector/host/internal/config"
	"github.com/acs-connector/acs-connector/host/internal/daemon"
	"github.com/acs-connector/acs-connector/host/internal/feed"
	"github.com/acs-connector/acs-connector/host/internal/logging"
	"github.com/acs-connector/acs-connector/host/internal/simulate"
	"github.com/acs-connector/acs-connector/host/internal/store"
)

func runDaemon(_ context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	if *cfgPath == "" {
		return fail(stderr, errors.New("run: --config is required"))
	}
	if err := daemon.Run(daemon.Options{ConfigPath: *cfgPath, LogOutput: stderr}); err != nil {
		// stderr is the service log: the error goes through the same
		// redaction as every log line (a config error quotes the value).
		return fail(stderr, redactedError{err})
	}
	return 0
}

// redactedError prints err with secrets removed; errors.As still sees err.
type redactedError struct{ error }

func (e redactedError) Error() string { return logging.Redact(e.error.Error()) }
func (e redactedError) Unwrap() error { return e.error }

// progress prints a single updating line while work runs, only on a
// terminal; logs and pipes get the final summary alone.
func progress(w io.Writer, label string) func() {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	start := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		spin := `|/-\`
		for i := 0; ; i++ {
			select {
			case <-stop:
				fmt.Fprintf(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%c %s %s", spin[i%4], label, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(stop); <-done }
}

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait for Stripe to finish the import")
	pos, ok := parseFlags(fs, args, stderr)
	if !ok {
		return 2
	}
	if len(pos) != 1 || *cfgPath == "" {
		return fail(stderr, errors.New("usage: acs-connector sync JOB --config F"))
	}
	job := pos[0]
	d, err := daemon.Start(daemon.Options{ConfigPath: *cfgPath, LogOutput: quietLog(stderr), OneShot: true})
	if err != nil {
		return fail(stderr, err)
	}
	defer d.Close()
	if _, ok := d.Config().Jobs[job]; !ok {
		return fail(stderr, fmt.Errorf("no job %q in %s (jobs: %s)", job, d.Config().File, strings.Join(d.Config().JobNames(), ", ")))
	}
	stop := progress(stderr, "running "+job)
	started := time.Now()
	err = d.RunJob(ctx, job)
	if err == nil {
		err = d.WaitForImports(ctx, *wait)
	}
	stop()
	if err != nil {
		return fail(stderr, fmt.Errorf("job %s: %w", job, err))
	}
	fmt.Fprintf(stdout, "job %s finished in %s\n", job, time.Since(started).Round(time.Millisecond))
	return printUploads(ctx, d.Store(), stdout, started, 5)
}

func runFeedExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("feed export", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	job := fs.String("job", "", "catalog, inventory or price job to build")
	out := fs.String("out", "", "feed file to write")
	errs := fs.String("errors", "", "error report to write (rows that would not be uploaded)")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	if *cfgPath == "" || *job == "" || *out == "" {
		return fail(stderr, errors.New("usage: acs-connector feed export --config F --job J --out FILE [--errors FILE]"))
	}
	d, err := daemon.Start(daemon.Options{ConfigPath: *cfgPath, LogOutput: quietLog(stderr), OneShot: true})
	if err != nil {
		return fail(stderr, err)
	}
	defer d.Close()
	stop := progress(stderr, "building "+*out)
	stats, err := d.ExportFeed(ctx, *job, *out, *errs)
	stop()
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "%s: %d valid rows in %d part(s), %d invalid rows", *out, stats.Valid, stats.Parts, stats.Invalid)
	if *errs != "" {
		fmt.Fprintf(stdout, " (see %s)", *errs)
	}
	fmt.Fprintln(stdout)
	return 0
}

func runFeedValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("feed validate", flag.ContinueOnError)
	kindName := fs.String("kind", "", "product, inventory or price (default: from the header)")
	pos, ok := parseFlags(fs, args, stderr)
	if !ok {
		return 2
	}
	if len(pos) != 1 {
		return fail(stderr, errors.New("usage: acs-connector feed validate FILE [--kind product|inventory|price]"))
	}
	var kind feed.Kind
	if *kindName != "" {
		k, err := feed.ParseKind(*kindName)
		if err != nil {
			return fail(stderr, err)
		}
		kind = k
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fail(stderr, err)
	}
	defer f.Close()
	rep, err := feed.ValidateFile(f, kind)
	if err != nil {
		return fail(stderr, fmt.Errorf("%s: %w", pos[0], err))
	}
	for _, p := range rep.Problems {
		col := p.Column
		if col == "" {
			col = "-"
		}
		fmt.Fprintf(stdout, "%s: row %d, column %s: %s\n", pos[0], p.Row, col, p.Message)
	}
	if rep.Invalid > len(rep.Problems) {
		fmt.Fprintf(stdout, "... more problems not shown\n")
	}
	fmt.Fprintf(stdout, "%s: %s feed, %d rows, %d invalid\n", pos[0], rep.Kind, rep.Rows, rep.Invalid)
	if rep.Invalid > 0 {
		return 1
	}
	return 0
}

func runFeedsStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("feeds status", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file")
	limit := fs.Int("limit", 20, "uploads to show")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	cfg, err := loadConfig(fs, *cfgPath)
	if err != nil {
		return fail(stderr, err)
	}
	st, err := store.Open(ctx, cfg.State.Driver, cfg.State.DSN)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	return printUploads(ctx, st, stdout, time.Time{}, *limit)
}

func printUploads(ctx context.Context, st store.Store, stdout io.Writer, since time.Time, limit int) int {
	ups, err := st.RecentUploads(ctx, limit)
	if err != nil {
		return fail(stdout, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tJOB\tFEED\tFILE\tIMPORT\tSTATUS\tPROCESSED\tSUCCEEDED\tFAILED")
	type errs struct {
		id   string
		rows []store.UploadErrorRow
	}
	var withErrors []errs
	bad := 0
	for _, u := range ups {
		if !since.IsZero() && u.CreatedAt.Before(since.Add(-time.Second)) {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", u.CreatedAt.Format("2006-01-02 15:04:05"), u.Job, u.Kind, orDash(u.FileID), orDash(u.ImportID),
			u.Status, u.RowsProcessed, u.RowsSucceeded, u.RowsFailed)
		if u.Status == store.UploadFailed {
			bad++
		}
		if rows, err := st.UploadErrors(ctx, u.ID, 5); err == nil && len(rows) > 0 {
			withErrors = append(withErrors, errs{orDash(u.ImportID), rows})
		}
	}
	tw.Flush()
	for _, e := range withErrors {
		fmt.Fprintf(stdout, "\nfirst errors of %s:\n", e.id)
		for _, r := range e.rows {
			fmt.Fprintf(stdout, "  line %d  %s  %s  (%s)\n", r.Line, orDash(r.ItemID), r.Message, r.Source)
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// quietLog keeps one-shot commands readable: only warnings and errors of
// the host's own log reach the terminal.
func quietLog(w io.Writer) io.Writer { return levelFilter{w: w} }

type levelFilter struct{ w io.Writer }

func (l levelFilter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.Contains(s, "level=INFO") || strings.Contains(s, "level=DEBUG") || strings.Contains(s, `"level":"INFO"`) || strings.Contains(s, `"level":"DEBUG"`) {
		return len(p), nil
	}
	return l.w.Write(p)
}

func runSimulateCheckout(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate checkout", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "config file of the running host")
	sku := fs.String("sku", "", "SKU to buy")
	qty := fs.Int64("qty", 1, "quantity")
	country := fs.String("country", "US", "shipping country")
	if _, ok := parseFlags(fs, args, stderr); !ok {
		return 2
	}
	if *cfgPath == "" || *sku == "" {
		return fail(stderr, errors.New("usage: acs-connector simulate checkout --config F --sku SKU --qty N [--country US]"))
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return fail(stderr, err)
	}
	info, err := daemon.ReadEmulatorInfo(cfg)
	if err != nil {
		return fail(stderr, fmt.Errorf("simulate needs a host running on the embedded emulator: %w", err))
	}
	res, err := simulate.Run(ctx, simulate.Options{HostURL: info.HostURL, HookSecret: info.HookSecret, EmulatorURL: info.URL,
		EmulatorKey: info.APIKey, SKU: *sku, Qty: *qty, Country: *country, Out: stdout})
	if err != nil {
		return fail(stderr, err)
	}
	_ = res
	return 0
}
