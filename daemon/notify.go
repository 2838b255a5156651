package daemon

import (
	"fmt"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notifier speaks systemd's notify protocol ($NOTIFY_SOCKET); outside
// systemd every call does nothing.
type notifier struct {
	log *zap.Logger
}

func (n notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Warn("cannot notify systemd", zap.String("state", state), zap.Error(err))
	}
}

func (n notifier) ready()          { n.send(sd.SdNotifyReady) }
func (n notifier) reloading()      { n.send(sd.SdNotifyReloading) }
func (n notifier) stopping()       { n.send(sd.SdNotifyStopping) }
func (n notifier) watchdog()       { n.send(sd.SdNotifyWatchdog) }
func (n notifier) status(s string) { n.send("STATUS=" + s) }
func (n notifier) extend(by time.Duration) {
	n.send(fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", by.Microseconds()))
}

// watchdogInterval is how often to send WATCHDOG=1: half of WatchdogSec, or
// 0 when systemd does not watch this process.
func (n notifier) watchdogInterval() time.Duration {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("cannot read the watchdog settings", zap.Error(err))
		return 0
	}
	return d / 2
}

// extendWhile keeps asking systemd for more start-up time until done is
// closed, for at most limit: loading a model can mean building a TensorRT
// engine, which takes minutes on a Jetson, longer than any sensible
// TimeoutStartSec; a build that hangs must still be stopped some time.
func (n notifier) extendWhile(done <-chan struct{}, limit time.Duration) {
	const every, by = 10 * time.Second, 30 * time.Second
	n.extend(by)
	t := time.NewTicker(every)
	defer t.Stop()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			n.extend(by)
		case <-deadline.C:
			n.log.Error(
				"the model has been loading longer than tensorrt.max_build; asking systemd for no more time, so it stops hrmd if "+
					"the load hangs",
				zap.String("event", "load_overdue"),
				zap.Duration("max_build", limit),
			)
			return
		}
	}
}
