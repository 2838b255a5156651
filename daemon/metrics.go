package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are what /metrics exports, in a registry of the daemon's own.
type metrics struct {
	registry    *prometheus.Registry
	puzzles     *prometheus.CounterVec // files by outcome (answered, failed)
	failures    *prometheus.CounterVec // failed files by error code
	inference   prometheus.Histogram   // seconds per batch run
	cycles      prometheus.Histogram   // cycles per test input
	batchSize   prometheus.Histogram   // rows per batch
	queueDepth  prometheus.Gauge       // files settled or claimed, not yet answered
	stuck       prometheus.Gauge       // files whose answer or error file waits to be written
	queuedBytes prometheus.Gauge       // memory the task files read and not yet answered hold (memoryCost)
	orphaned    prometheus.Gauge       // files in work/ folders no running daemon holds (at start)
	inboxLost   prometheus.Gauge       // 1 while the inbox path is not the inbox
	provider    *prometheus.GaugeVec   // 1 for the provider, precision and model in use
	// precisionCheck is 1 for each TensorRT engine checked for the model in
	// use, by precision and result.
	precisionCheck *prometheus.GaugeVec
	rescans        *prometheus.CounterVec // inbox scans by reason
	reloads        *prometheus.CounterVec // SIGHUP reloads by result
	ready          prometheus.Gauge       // 1 once warm
	degraded       *prometheus.GaugeVec   // 1 with a reason while a Jetson runs the model on its CPU

	temperature   *prometheus.GaugeVec // °C by thermal zone
	gpuLoad       prometheus.Gauge     // 0..1, Jetson only
	thermalPaused prometheus.Gauge     // 1 while too hot to take files
	thermalPauses prometheus.Counter
}

// The help of the metrics whose help is long.
const (
	helpStuckFiles = "Files answered (or failed) whose answer or error file cannot be written yet; they wait in work/ " +
		"and are tried again."
	helpQueuedFileBytes = "Memory the task files read and not yet answered hold, as estimated from their grids and test " +
		"inputs; at 16 x watch.max_file_bytes no more are read until one is answered."
	helpOrphanedFiles = "Files found at start in work/ folders that no running hrmd holds (hrmd run --adopt-orphans " +
		"takes them up)."
	helpInboxUnusable = "1 while no file can be claimed from the inbox: its path is gone or names something other than " +
		"the inbox folder, claims fail (EXDEV under a bind mount, a permission), or another hrmd holds " +
		"this instance's lock."
	helpPrecisionCheck = "The TensorRT engines checked against the bundle's fp32 reference for the model in use (value " +
		"1), by precision and result (passed, failed: a failed fp16 engine is replaced by an fp32 one)."
	helpDegraded = "1 while a Jetson configured for its GPU (onnxruntime.providers starting with tensorrt or cuda) " +
		"runs the model on the CPU, with why (gpu_provider_unavailable, gpu_provider_failed); 0 with " +
		"reason none otherwise."
)

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		puzzles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hrmd_puzzles_total", Help: "Task files finished, by outcome (answered, failed).",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hrmd_puzzle_failures_total", Help: "Task files that went to failed/, by error code.",
		}, []string{"code"}),
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hrmd_inference_seconds", Help: "Time of one batch through the model (all its cycles).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		cycles: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hrmd_cycles", Help: "Reasoning cycles per test input.",
			Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hrmd_batch_size", Help: "Inputs (test and demonstration) per batch.",
			Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 32, 64},
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_queue_depth", Help: "Task files claimed and waiting for the model.",
		}),
		stuck: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_stuck_files", Help: helpStuckFiles,
		}),
		queuedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_queued_file_bytes", Help: helpQueuedFileBytes,
		}),
		orphaned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_orphaned_files", Help: helpOrphanedFiles,
		}),
		inboxLost: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_inbox_unusable", Help: helpInboxUnusable,
		}),
		provider: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hrmd_provider_info", Help: "The execution provider, precision and model in use (value 1).",
		}, []string{"provider", "precision", "model", "sha256"}),
		precisionCheck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hrmd_precision_check", Help: helpPrecisionCheck,
		}, []string{"precision", "result"}),
		rescans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hrmd_inbox_scans_total", Help: "Full inbox scans, by reason (start, timer, overflow, watch_error, no_watch).",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hrmd_reloads_total", Help: "SIGHUP reloads, by result (ok, failed).",
		}, []string{"result"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_ready", Help: "1 once the model is loaded and warmed up, 0 before and while stopping.",
		}),
		degraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hrmd_degraded", Help: helpDegraded,
		}, []string{"reason"}),
		temperature: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hrmd_temperature_celsius", Help: "Temperature of each thermal zone of the device (/sys/class/thermal).",
		}, []string{"zone", "type"}),
		gpuLoad: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_gpu_load_ratio", Help: "The Jetson GPU's load, 0 to 1 (absent on other devices).",
		}),
		thermalPaused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hrmd_thermal_paused", Help: "1 while the device is too hot (thermal.pause_c) and no new files are taken.",
		}),
		thermalPauses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hrmd_thermal_pauses_total", Help: "Times the intake stopped because the device was too hot.",
		}),
	}
	m.registry.MustRegister(m.puzzles, m.failures, m.inference, m.cycles, m.batchSize, m.queueDepth, m.stuck,
		m.queuedBytes, m.orphaned, m.inboxLost, m.provider, m.precisionCheck, m.rescans, m.reloads, m.ready,
		m.degraded, m.temperature, m.thermalPaused, m.thermalPauses,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{"answered", "failed"} {
		m.puzzles.WithLabelValues(o) // export zeros from the start
	}
	m.degraded.WithLabelValues("none").Set(0)
	return m
}
