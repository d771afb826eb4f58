// Package metrics defines every Prometheus metric the host exports, on its
// own registry (not the global default, so nothing a library registers
// leaks into /metrics).
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics holds the host's collectors. A nil *Metrics is valid and records
// nothing, so packages can be tested without one.
type Metrics struct {
	Registry *prometheus.Registry

	PluginUp          *prometheus.GaugeVec
	PluginRestarts    *prometheus.CounterVec
	PluginRPCDuration *prometheus.HistogramVec

	JobRuns        *prometheus.CounterVec
	JobSkipped     *prometheus.CounterVec
	JobDuration    *prometheus.HistogramVec
	JobLastSuccess *prometheus.GaugeVec

	HookRequests  *prometheus.CounterVec
	HookLatency   *prometheus.HistogramVec
	HookDecisions *prometheus.CounterVec

	FeedRows       *prometheus.CounterVec
	ImportOutcomes *prometheus.CounterVec

	Orders *prometheus.CounterVec
}

// New registers everything on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{Registry: r}
	m.PluginUp = gauge(r, "acs_plugin_up", "1 when the plugin process is up.", "plugin")
	m.PluginRestarts = counter(r, "acs_plugin_restarts_total", "Plugin restarts after a crash.", "plugin", "reason")
	m.PluginRPCDuration = histogram(r, "acs_plugin_rpc_duration_seconds", "Plugin RPC latency.", []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 15, 60}, "plugin", "method", "code")
	m.JobRuns = counter(r, "acs_job_runs_total", "Job runs by outcome.", "job", "outcome")
	m.JobSkipped = counter(r, "acs_job_skipped_total", "Job ticks skipped (still running, or run by another host).", "job", "reason")
	m.JobDuration = histogram(r, "acs_job_duration_seconds", "Job run duration.", prometheus.ExponentialBuckets(0.05, 2, 14), "job")
	m.JobLastSuccess = gauge(r, "acs_job_last_success_timestamp_seconds", "Unix time of the job's last successful run.", "job")
	m.HookRequests = counter(r, "acs_hook_requests_total", "Hook requests by type and HTTP status.", "type", "code")
	m.HookLatency = histogram(r, "acs_hook_latency_seconds", "Hook answer latency.", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 4}, "type")
	m.HookDecisions = counter(r, "acs_hook_decisions_total", "Approval hook decisions.", "decision", "reason")
	m.FeedRows = counter(r, "acs_feed_rows_total", "Feed rows built, by feed and result (valid, invalid, rejected_by_plugin, unchanged, deleted).", "job", "result")
	m.ImportOutcomes = counter(r, "acs_import_outcomes_total", "Final statuses of uploads to Stripe.", "job", "status")
	m.Orders = counter(r, "acs_orders_total", "Order events: fulfilled, rejected, captured, refunded, failed.", "event")
	return m
}

func counter(r *prometheus.Registry, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.MustRegister(c)
	return c
}

func gauge(r *prometheus.Registry, name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	r.MustRegister(g)
	return g
}

func histogram(r *prometheus.Registry, name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.MustRegister(h)
	return h
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Inc adds one to a counter; safe on a nil Metrics.
func (m *Metrics) Inc(c func(*Metrics) *prometheus.CounterVec, labels ...string) {
	if m == nil {
		return
	}
	c(m).WithLabelValues(labels...).Inc()
}

// Add adds n to a counter; safe on a nil Metrics.
func (m *Metrics) Add(c func(*Metrics) *prometheus.CounterVec, n float64, labels ...string) {
	if m == nil || n == 0 {
		return
	}
	c(m).WithLabelValues(labels...).Add(n)
}

// Observe records a histogram sample; safe on a nil Metrics.
func (m *Metrics) Observe(h func(*Metrics) *prometheus.HistogramVec, v float64, labels ...string) {
	if m == nil {
		return
	}
	h(m).WithLabelValues(labels...).Observe(v)
}

// Set sets a gauge; safe on a nil Metrics.
func (m *Metrics) Set(g func(*Metrics) *prometheus.GaugeVec, v float64, labels ...string) {
	if m == nil {
		return
	}
	g(m).WithLabelValues(labels...).Set(v)
}

// Field selectors, so callers write m.Inc(metrics.OrdersC, "fulfilled").
func OrdersC(m *Metrics) *prometheus.CounterVec         { return m.Orders }
func HookRequestsC(m *Metrics) *prometheus.CounterVec   { return m.HookRequests }
func HookDecisionsC(m *Metrics) *prometheus.CounterVec  { return m.HookDecisions }
func HookLatencyH(m *Metrics) *prometheus.HistogramVec  { return m.HookLatency }
func FeedRowsC(m *Metrics) *prometheus.CounterVec       { return m.FeedRows }
func ImportOutcomesC(m *Metrics) *prometheus.CounterVec { return m.ImportOutcomes }
func JobRunsC(m *Metrics) *prometheus.CounterVec        { return m.JobRuns }
func JobSkippedC(m *Metrics) *prometheus.CounterVec     { return m.JobSkipped }
func JobDurationH(m *Metrics) *prometheus.HistogramVec  { return m.JobDuration }
func JobLastSuccessG(m *Metrics) *prometheus.GaugeVec   { return m.JobLastSuccess }
func PluginUpG(m *Metrics) *prometheus.GaugeVec         { return m.PluginUp }
func PluginRestartsC(m *Metrics) *prometheus.CounterVec { return m.PluginRestarts }

// PluginDialOptions times every RPC to a plugin.
func (m *Metrics) PluginDialOptions(plugin string) []grpc.DialOption {
	if m == nil {
		return nil
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			start := time.Now()
			err := invoker(ctx, method, req, reply, cc, opts...)
			m.PluginRPCDuration.WithLabelValues(plugin, shortMethod(method), status.Code(err).String()).Observe(time.Since(start).Seconds())
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			start := time.Now()
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				m.PluginRPCDuration.WithLabelValues(plugin, shortMethod(method), status.Code(err).String()).Observe(time.Since(start).Seconds())
			}
			return s, err
		}),
	}
}

func shortMethod(full string) string {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '/' {
			return full[i+1:]
		}
	}
	return full
}
