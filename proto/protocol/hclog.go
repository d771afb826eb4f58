package protocol

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// slogAdapter lets go-plugin log through the host's slog logger. go-plugin
// parses each JSON line a plugin writes to stderr (hclog's @level/@message
// keys) and re-logs it here at the plugin's own level.
type slogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
	level   hclog.Level
}

func newSlogAdapter(l *slog.Logger, name string) hclog.Logger {
	return &slogAdapter{l: l, name: name, level: hclog.Trace}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// go-plugin adds a "timestamp" kv for every plugin line; slog already stamps
// records, so the duplicate is dropped.
func cleanArgs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "timestamp" {
			continue
		}
		out = append(out, args[i], args[i+1])
	}
	if len(args)%2 == 1 {
		out = append(out, "extra", args[len(args)-1])
	}
	return out
}

func (a *slogAdapter) Log(level hclog.Level, msg string, args ...interface{}) {
	if level == hclog.Off || level < a.level {
		return
	}
	all := append(append([]any{}, a.implied...), cleanArgs(args)...)
	a.l.Log(context.Background(), toSlogLevel(level), msg, all...)
}

func (a *slogAdapter) Trace(msg string, args ...interface{}) { a.Log(hclog.Trace, msg, args...) }
func (a *slogAdapter) Debug(msg string, args ...interface{}) { a.Log(hclog.Debug, msg, args...) }
func (a *slogAdapter) Info(msg string, args ...interface{})  { a.Log(hclog.Info, msg, args...) }
func (a *slogAdapter) Warn(msg string, args ...interface{})  { a.Log(hclog.Warn, msg, args...) }
func (a *slogAdapter) Error(msg string, args ...interface{}) { a.Log(hclog.Error, msg, args...) }
func (a *slogAdapter) IsTrace() bool                         { return a.l.Enabled(context.Background(), slog.LevelDebug) }
func (a *slogAdapter) IsDebug() bool                         { return a.l.Enabled(context.Background(), slog.LevelDebug) }
func (a *slogAdapter) IsInfo() bool                          { return a.l.Enabled(context.Background(), slog.LevelInfo) }
func (a *slogAdapter) IsWarn() bool                          { return a.l.Enabled(context.Background(), slog.LevelWarn) }
func (a *slogAdapter) IsError() bool                         { return a.l.Enabled(context.Background(), slog.LevelError) }
func (a *slogAdapter) ImpliedArgs() []interface{}            { return a.implied }
func (a *slogAdapter) Name() string                          { return a.name }
func (a *slogAdapter) SetLevel(level hclog.Level)            { a.level = level }
func (a *slogAdapter) GetLevel() hclog.Level                 { return a.level }

func (a *slogAdapter) With(args ...interface{}) hclog.Logger {
	c := *a
	c.implied = append(append([]any{}, a.implied...), cleanArgs(args)...)
	return &c
}

// Named is called by go-plugin with the binary's base name and with "stdio";
// the plugin attribute is set by the host, so names are not repeated.
func (a *slogAdapter) Named(name string) hclog.Logger { c := *a; c.name = name; return &c }
func (a *slogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *slogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *slogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{log: func(line string) { a.Info(line) }}
}

// lineWriter turns raw writes (a plugin's fmt.Println after Serve, say) into
// one log record per line.
type lineWriter struct {
	mu  sync.Mutex
	log func(string)
	buf bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.Reset()
			w.buf.WriteString(line)
			return len(p), nil
		}
		if s := strings.TrimRight(line, "\r\n"); s != "" {
			w.log(s)
		}
	}
}
