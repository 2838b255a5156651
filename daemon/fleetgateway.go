package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/queue"
	"github.com/hrmd/hrmd/daemon/spool"
	"github.com/hrmd/hrmd/puzzles"
)

// How a gateway looks after its published claims: every sweepEvery it asks
// the cluster where each claim unanswered for sweepAfter is, and publishes
// again one that is nowhere (a stream purged or recreated, say), so that no
// file is stranded in work/ whatever happens to the queue.
const (
	sweepEvery = time.Minute
	sweepAfter = 5 * time.Minute
	depthEvery = 5 * time.Second
)

// puzzleID is a claim's identity: the gateway, the file's name in work/,
// and the inode and change time the claim's rename gave it. It is the same
// after a gateway restart (the file is published again as a duplicate),
// and differs for a later file claimed under the same name.
func (f *fleet) puzzleID(job string) (string, error) {
	info, err := os.Lstat(f.d.spool.WorkPath(job))
	if err != nil {
		return "", err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("%s: no inode", job)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d.%d", f.name, job, st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// publishClaims publishes each claimed file the intake hands over. A file
// not published when the gateway stops stays in work/ and is published at
// the next start.
func (f *fleet) publishClaims(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-f.claims:
			f.publishClaim(ctx, j)
			f.d.dequeue(j)
		}
	}
}

func (f *fleet) publishClaim(ctx context.Context, j *job) {
	d := f.d
	data, err := os.ReadFile(d.spool.WorkPath(j.job))
	if err == nil && int64(len(data)) > d.limits.Bytes {
		err = fmt.Errorf("%s grew to %d bytes after it was read", j.job, len(data))
	}
	var id string
	if err == nil {
		id, err = f.puzzleID(j.job)
	}
	if err != nil {
		// Read again by the intake's rescan of work/, as any file whose read failed.
		d.inWork.drop(j.job)
		d.log.Warn("cannot read a claimed file to publish it; it stays in work/ and is read again", zap.String("name", j.job), zap.Error(err))
		return
	}
	p := queue.Puzzle{ID: id, Gateway: f.name, Name: j.name, Job: j.job, Data: data}
	if !j.file.Bundle {
		p.DroppedAs = j.file.Tasks[0].DroppedAs
	}
	dup, err := f.c.PublishPuzzle(ctx, p)
	if errors.Is(err, queue.ErrTooLarge) {
		f.mu.Lock()
		delete(f.published, j.job) // a republished claim's
		f.mu.Unlock()
		d.fail(j.job, j.name, &puzzles.Error{Code: puzzles.CodeTooBig, Message: fmt.Sprintf(
			"%s (%d bytes) is larger than the queue's servers carry (%v): raise max_payload in every nats-server's config, or lower watch.max_file_bytes", j.name, len(data), err)})
		return
	}
	if err != nil { // stopping: published at the next start
		return
	}
	f.metrics.published.WithLabelValues("puzzles", result(dup)).Inc()
	f.mu.Lock()
	if f.handed[j.job] != id { // not answered meanwhile (a claim published again after a restart)
		f.published[j.job] = &publishedJob{id: id, name: j.name, at: time.Now()}
	}
	f.metrics.inFlight.Set(float64(len(f.published)))
	f.mu.Unlock()
	d.log.Debug("published", zap.String("name", j.name), zap.String("job", j.job), zap.String("queue_id", id), zap.Bool("duplicate", dup))
}

func result(duplicate bool) string {
	if duplicate {
		return "duplicate"
	}
	return "stored"
}

// receiveAnswers writes the answers the workers send; every sweepEvery it
// looks for claims long unanswered, and every depthEvery it reads the
// queue's depth for /metrics.
func (f *fleet) receiveAnswers(ctx context.Context) {
	var feed *queue.AnswersFeed
	for tries := 1; feed == nil; tries++ {
		var err error
		if feed, err = f.c.Answers(ctx); err != nil {
			f.d.log.Warn("queue: cannot open the answers feed yet", zap.Int("tries", tries), zap.Error(err))
			if !backoffWait(ctx, tries) {
				return
			}
		}
	}
	sweep, depth := time.Now().Add(sweepEvery), time.Now()
	for fails := 0; ctx.Err() == nil; {
		if now := time.Now(); now.After(depth) {
			f.readDepth(ctx)
			depth = now.Add(depthEvery)
		}
		if now := time.Now(); now.After(sweep) {
			f.sweep(ctx)
			sweep = now.Add(sweepEvery)
		}
		got, err := feed.Fetch(ctx, 32, 2*time.Second)
		if err != nil {
			fails++
			f.d.log.Debug("queue: fetching answers failed; trying again", zap.Error(err))
			backoffWait(ctx, fails)
			continue
		}
		fails = 0
		for _, r := range got {
			f.receive(r.Answer)
			if err := r.Ack(ctx); err != nil {
				f.d.log.Warn("queue: an answer's ack was not confirmed; if it comes again it is dropped as a duplicate", zap.Error(err))
			} else {
				f.metrics.acks.Inc()
			}
		}
	}
}

func (f *fleet) readDepth(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n, err := f.c.Depth(rctx); err == nil {
		f.metrics.depth.Set(float64(n))
	}
}

// receive writes one answer, if it is the first for a file still in work/.
func (f *fleet) receive(a queue.Answer) {
	d := f.d
	job := a.Job
	f.mu.Lock()
	handed := f.handed[job] == a.ID
	f.mu.Unlock()
	id, err := "", error(nil)
	if filepath.Base(job) == job && !spool.Ignored(job) {
		id, err = f.puzzleID(job)
	} else {
		err = fmt.Errorf("not a name in work/")
	}
	switch {
	case handed || err != nil && os.IsNotExist(err):
		f.metrics.received.WithLabelValues("duplicate").Inc()
		d.log.Info("duplicate answer dropped", zap.String("job", job), zap.String("queue_id", a.ID), zap.String("worker", a.Worker), zap.Int("attempt", a.Attempt))
		return
	case err != nil || id != a.ID:
		f.metrics.received.WithLabelValues("stale").Inc()
		d.log.Info("stale answer dropped: it is for an earlier file of that name", zap.String("job", job), zap.String("queue_id", a.ID),
			zap.String("worker", a.Worker), zap.NamedError("reason", err))
		return
	}
	f.mu.Lock()
	name := a.Name
	if p := f.published[job]; p != nil {
		name = p.name
	}
	if name == "" {
		name = job
	}
	delete(f.published, job)
	f.handed[job] = a.ID
	f.metrics.inFlight.Set(float64(len(f.published)))
	f.mu.Unlock()
	f.metrics.received.WithLabelValues("written").Inc()
	d.deliver(f.outcomeOf(a, job, name))
}

// outcomeOf is what a gateway writes for an answer: the answer (with its
// picture when answers.png is on), or the worker's error file.
func (f *fleet) outcomeOf(a queue.Answer, job, name string) *outcome {
	fields := []zap.Field{zap.String("worker", a.Worker), zap.Int("attempt", a.Attempt), zap.String("provider", a.Provider), zap.String("queue_id", a.ID)}
	o := &outcome{job: job, name: name, fields: fields}
	if a.Failed {
		var e ErrorFile
		if err := json.Unmarshal(a.Body, &e); err != nil || e.Code == "" {
			why := "it has no code"
			if err != nil {
				why = err.Error()
			}
			e = ErrorFile{Code: codeBadAnswer, At: time.Now().UTC(), Message: fmt.Sprintf("worker %s sent an error file hrmd cannot read: %s", a.Worker, why)}
		}
		e.File, e.FileBytes = name, puzzles.NameBytes(name)
		o.failure = &e
		return o
	}
	if !json.Valid(a.Body) {
		o.failure = &ErrorFile{File: name, FileBytes: puzzles.NameBytes(name), Code: codeBadAnswer, At: time.Now().UTC(),
			Message: fmt.Sprintf("worker %s sent %d bytes that are not a JSON answer", a.Worker, len(a.Body))}
		return o
	}
	o.answer = a.Body
	if f.png.Load() {
		pic, err := f.picture(job, a.Body)
		if err != nil {
			f.d.log.Warn("no picture for this answer", zap.String("name", job), zap.Error(err))
		}
		o.picture = pic
	}
	return o
}

// picture draws answers.png from the input in work/ and the answer.
func (f *fleet) picture(job string, body []byte) ([]byte, error) {
	file, err := puzzles.ReadFile(f.d.spool.WorkPath(job), f.d.limits)
	if err != nil {
		return nil, err
	}
	var files []puzzles.AnswerFile
	if file.Bundle {
		var byTask map[string]puzzles.AnswerFile
		if err := json.Unmarshal(body, &byTask); err != nil {
			return nil, err
		}
		for _, t := range file.Tasks {
			files = append(files, byTask[t.ID])
		}
	} else {
		var a puzzles.AnswerFile
		if err := json.Unmarshal(body, &a); err != nil {
			return nil, err
		}
		files = []puzzles.AnswerFile{a}
	}
	return answer.Picture(file, files)
}

// sweep asks where each claim unanswered for sweepAfter is: still in the
// queue (looked at again later), answered (the answer is written now:
// its message was acked, but the write did not happen, the gateway having
// stopped), or nowhere (published again).
func (f *fleet) sweep(ctx context.Context) {
	type claim struct{ job, id string }
	var old []claim
	f.mu.Lock()
	for job := range f.handed {
		if !exists(f.d.spool.WorkPath(job)) {
			delete(f.handed, job) // written
		}
	}
	for job, p := range f.published {
		if time.Since(p.at) > sweepAfter {
			old = append(old, claim{job, p.id})
		}
	}
	f.mu.Unlock()
	for _, c := range old {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		where, a, err := f.c.Locate(lctx, c.id)
		cancel()
		switch {
		case err != nil:
			f.d.log.Debug("queue: cannot look for a claim now", zap.String("job", c.job), zap.Error(err))
			return
		case where == queue.Waiting:
			f.mu.Lock()
			if p := f.published[c.job]; p != nil {
				p.at = time.Now()
			}
			f.mu.Unlock()
		case where == queue.Answered:
			f.receive(*a)
		default:
			f.republish(ctx, c.job, c.id)
		}
	}
}

// republish publishes again a claim the queue lost.
func (f *fleet) republish(ctx context.Context, work, id string) {
	f.mu.Lock()
	p := f.published[work]
	f.mu.Unlock()
	if p == nil {
		return
	}
	f.d.log.Warn("queue: a published file is neither waiting nor answered in the cluster; publishing it again",
		zap.String("job", work), zap.String("queue_id", id), zap.String("since", strconv.Quote(p.at.UTC().Format(time.RFC3339))))
	file, err := puzzles.ReadFile(f.d.spool.WorkPath(work), f.d.limits)
	if err != nil {
		return // it left work/ meanwhile, or the intake's rescan sees to it
	}
	if !file.Bundle && work != p.name {
		file.Tasks[0].DroppedAs = puzzles.TaskName(p.name)
	}
	f.publishClaim(ctx, &job{name: p.name, job: work, file: file})
}
