package sdk

import (
	"io"
	"log/slog"
	"os"
	"sync"
)

// go-plugin reads a plugin's stderr line by line and understands hclog's JSON
// keys; with them, the host logs each line at the plugin's own level instead
// of flattening everything to DEBUG.
const hclogTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

var (
	logMu     sync.Mutex
	logger              = newHCLogJSON(os.Stderr, slog.LevelInfo)
	logOutput io.Writer = os.Stderr
)

// Logger returns the plugin's logger. Its records reach the host's log with
// their level and attributes, tagged with the plugin's name.
func Logger() *slog.Logger {
	logMu.Lock()
	defer logMu.Unlock()
	return logger
}

func newHCLogJSON(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTimeLayout))
			case slog.LevelKey:
				return slog.String("@level", levelName(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

// setLogOutput pins the logger to w (the process's real stderr, captured
// before go-plugin swaps os.Stderr).
func setLogOutput(w io.Writer) {
	logMu.Lock()
	defer logMu.Unlock()
	logOutput = w
	lvl := slog.LevelInfo
	if os.Getenv("ACS_PLUGIN_LOG_LEVEL") == "debug" {
		lvl = slog.LevelDebug
	}
	logger = newHCLogJSON(w, lvl)
}
