package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// serveHTTP starts /healthz, /readyz and /metrics on listen.
func (d *daemon) serveHTTP(listen string) (*http.Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w; choose another address or \"\" to turn HTTP off", listen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case d.stopping.Load():
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		case !d.ready.Load():
			http.Error(w, "loading the model", http.StatusServiceUnavailable)
		case !d.inboxOK.usable():
			http.Error(w, "the inbox is not usable: "+d.inboxOK.reason(), http.StatusServiceUnavailable)
		case d.stuck.len() > 0:
			http.Error(w, fmt.Sprintf("%d files cannot be written to the outbox or failed/ (%v); they wait in work/ and are tried again",
				d.stuck.len(), d.stuck.lastError()), http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(d.metrics.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", zap.Error(err))
		}
	}()
	d.log.Info("http listening", zap.String("addr", ln.Addr().String()))
	return srv, nil
}
