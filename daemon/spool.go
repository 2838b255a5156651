package daemon

import (
	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/spool"
)

// The daemon's side of the spool (package spool: the folders, the lock, and
// the rules of every move and write).

// ErrorFile is an error record in failed/ (spool.ErrorFile).
type ErrorFile = spool.ErrorFile

// AnswerName is the outbox file that answers job (spool.AnswerName).
func AnswerName(job string) string { return spool.AnswerName(job) }

// openSpool opens the spool and lists the files an earlier run left in work/.
func (d *daemon) openSpool() ([]string, error) {
	var err error
	if d.spool, err = spool.Open(d.cfg.Layout(d.opts.Instance)); err != nil {
		return nil, err
	}
	if n := d.spool.RemoveTemporaries(); n > 0 {
		d.log.Info("removed temporary files an interrupted write left", zap.Int("files", n))
	}
	recovered, err := d.spool.Pending()
	if err != nil {
		d.spool.Close()
		return nil, err
	}
	return append(recovered, d.takeUpOrphans(d.opts.AdoptOrphans)...), nil
}

// takeUpOrphans reports orphaned work/ folders at start, and with adopt
// moves their files here; it returns the files adopted.
func (d *daemon) takeUpOrphans(adopt bool) []string {
	var adopted []string
	for _, o := range d.spool.Orphans() {
		if !adopt {
			d.metrics.orphaned.Add(float64(len(o.Jobs)))
			d.log.Warn("files wait in a work/ folder no running hrmd holds (was the host renamed? the instance name "+
				"defaults to it): start one daemon with --adopt-orphans to answer them, or run one as that instance",
				zap.String("event", "orphans"), zap.String("folder", o.Dir), zap.Int("files", len(o.Jobs)))
			continue
		}
		jobs, err := d.spool.Adopt(o)
		adopted = append(adopted, jobs...)
		if err != nil {
			d.log.Error("cannot take up every file of an orphaned work/ folder", zap.String("folder", o.Dir),
				zap.Int("taken", len(jobs)), zap.Error(err))
			continue
		}
		d.log.Info("took up the files of an orphaned work/ folder", zap.String("folder", o.Dir), zap.Int("files", len(jobs)))
	}
	return adopted
}
