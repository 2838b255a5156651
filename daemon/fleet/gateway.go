package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/hrmd/hrmd/daemon"
	"github.com/hrmd/hrmd/daemon/answer"
	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/daemon/fleet/queue"
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
// and a SHA-256 of its content. A chmod, touch, ACL or hard link in work/
// leaves it as it is, and so does a gateway restart (the file is published
// again as a duplicate); a file of other content put in work/ under that
// name has another, so that no answer to the earlier content is written
// for it.
func (f *Fleet) puzzleID(job string, data []byte) string {
	sum := sha256.Sum256(data)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%x", f.name, job, sum)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Claim is a gateway's ClaimSink: the intake hands it a claimed file to
// publish; false when ctx ended first.
func (f *Fleet) Claim(ctx context.Context, j *daemon.Job) bool {
	select {
	case f.claims <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

// publishClaims publishes each claimed file the intake hands over. A file
// not published when the gateway stops stays in work/ and is published at
// the next start.
func (f *Fleet) publishClaims(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-f.claims:
			f.publishClaim(ctx, j)
			f.h.Dequeue(j)
		}
	}
}

func (f *Fleet) publishClaim(ctx context.Context, j *daemon.Job) {
	data, err := os.ReadFile(f.h.Spool().WorkPath(j.Work))
	if err == nil && int64(len(data)) > f.h.Limits().Bytes {
		err = fmt.Errorf("%s grew to %d bytes after it was read", j.Work, len(data))
	}
	if err != nil {
		// Read again by the intake's rescan of work/, as any file whose read failed.
		f.h.Forget(j.Work)
		f.log.Warn("cannot read a claimed file to publish it; it stays in work/ and is read again",
			zap.String("name", j.Work), zap.Error(err))
		return
	}
	id := f.puzzleID(j.Work, data)
	p := queue.Puzzle{ID: id, Gateway: f.name, Name: j.Name, Job: j.Work, Data: data}
	if !j.File.Bundle {
		p.DroppedAs = j.File.Tasks[0].DroppedAs
	}
	dup, err := f.c.PublishPuzzle(ctx, p)
	if errors.Is(err, queue.ErrTooLarge) {
		f.mu.Lock()
		delete(f.published, j.Work) // a republished claim's
		f.mu.Unlock()
		f.h.Deliver(&daemon.Outcome{Work: j.Work, Name: j.Name, Failure: daemon.NewErrorFile(j.Name, &puzzles.Error{
			Code: puzzles.CodeTooBig, Message: fmt.Sprintf(
				"%s (%d bytes) is larger than the queue's servers carry (%v): "+
					"raise max_payload in every nats-server's config, or lower watch.max_file_bytes",
				j.Name, len(data), err)})})
		return
	}
	if err != nil { // stopping: published at the next start
		return
	}
	f.metrics.published.WithLabelValues("puzzles", result(dup)).Inc()
	f.mu.Lock()
	if f.handed[j.Work] != id { // not answered meanwhile (a claim published again after a restart)
		f.published[j.Work] = &publishedJob{id: id, name: j.Name, at: time.Now()}
	}
	f.metrics.inFlight.Set(float64(len(f.published)))
	f.mu.Unlock()
	f.log.Debug("published", zap.String("name", j.Name), zap.String("job", j.Work), zap.String("queue_id", id),
		zap.Bool("duplicate", dup))
}

func result(duplicate bool) string {
	if duplicate {
		return "duplicate"
	}
	return "stored"
}

// answerLater is how long an answer the gateway cannot take now (its
// file unreadable, or an earlier delivery's write still pending) waits
// before it comes again; holdEvery is how often the gateway tells the
// cluster that the answers whose write is pending are still in hand (its
// consumer's ack wait is 30 s).
const (
	answerLater = 10 * time.Second
	holdEvery   = 10 * time.Second
)

// receiveAnswers writes the answers the workers send, and acks each once
// its outcome is written; every sweepEvery it looks for claims long
// unanswered, and every depthEvery it reads the queue's depth for /metrics.
func (f *Fleet) receiveAnswers(ctx context.Context) {
	var feed *queue.AnswersFeed
	for tries := 1; feed == nil; tries++ {
		var err error
		if feed, err = f.c.Answers(ctx); err != nil {
			f.log.Warn("queue: cannot open the answers feed yet", zap.Int("tries", tries), zap.Error(err))
			if !backoffWait(ctx, tries) {
				return
			}
		}
	}
	sweep, depth, hold := time.Now().Add(sweepEvery), time.Now(), time.Now().Add(holdEvery)
	for fails := 0; ctx.Err() == nil; {
		f.ackWritten(ctx)
		if now := time.Now(); now.After(depth) {
			f.readDepth(ctx)
			depth = now.Add(depthEvery)
		}
		if now := time.Now(); now.After(hold) {
			f.holdWriting()
			hold = now.Add(holdEvery)
		}
		if now := time.Now(); now.After(sweep) {
			f.sweep(ctx)
			sweep = now.Add(sweepEvery)
		}
		got, err := feed.Fetch(ctx, 32, 2*time.Second)
		if err != nil {
			fails++
			f.log.Debug("queue: fetching answers failed; trying again", zap.Error(err))
			backoffWait(ctx, fails)
			continue
		}
		fails = 0
		for _, r := range got {
			f.receive(ctx, r.Answer, r)
			f.ackWritten(ctx) // at once: one written and not acked comes again after a crash
		}
	}
	// The answers written last are acked still, briefly: one not acked
	// comes again at the next start, as a duplicate.
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.ackWritten(actx)
}

func (f *Fleet) readDepth(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if n, err := f.c.Depth(rctx); err == nil {
		f.metrics.depth.Set(float64(n))
	}
}

// receive writes one answer, if it is the first for a file still in work/
// with the content it was published with. Its message r (nil for an
// answer the sweep found) is acked once the outcome is written, or at once
// when there is nothing to write; it comes again later when the file
// cannot be read now, or an earlier delivery's write is still pending.
func (f *Fleet) receive(ctx context.Context, a queue.Answer, r *queue.Received) {
	job := a.Job
	fields := []zap.Field{
		zap.String("job", job),
		zap.String("queue_id", a.ID),
		zap.String("worker", a.Worker),
		zap.Int("attempt", a.Attempt),
	}
	var data []byte
	err := fmt.Errorf("%q is not a name in work/", job)
	if filepath.Base(job) == job && !spool.Ignored(job) {
		data, err = os.ReadFile(f.h.Spool().WorkPath(job))
	}
	f.mu.Lock()
	handed, published := f.handed[job] == a.ID, f.published[job]
	f.mu.Unlock()
	switch {
	case handed && err == nil: // its outcome waits to be written (the retrier has it)
		f.later(r)
		return
	case handed || errors.Is(err, fs.ErrNotExist):
		f.metrics.received.WithLabelValues("duplicate").Inc()
		f.log.Info("duplicate answer dropped", append(fields, zap.String("event", "duplicate_answer"))...)
		f.ack(ctx, r)
		return
	case err != nil && filepath.Base(job) == job && !spool.Ignored(job):
		f.log.Warn("cannot read a file in work/ to match its answer; the answer comes again",
			append(fields, zap.Error(err))...)
		f.later(r)
		return
	case err != nil || f.puzzleID(job, data) != a.ID:
		f.metrics.received.WithLabelValues("stale").Inc()
		f.log.Info("stale answer dropped: it is for an earlier file of that name", append(fields,
			zap.String("event", "stale_answer"), zap.NamedError("reason", err))...)
		f.ack(ctx, r)
		if err == nil && published != nil && published.id == a.ID {
			f.publishReplaced(ctx, job, published.name)
		}
		return
	}
	f.write(a, r, published)
}

// write hands an answer to the writer: the answer, or, from a model other
// than the gateway's under queue.mixed_models: refuse, its file's
// model_mismatch error file.
func (f *Fleet) write(a queue.Answer, r *queue.Received, published *publishedJob) {
	job := a.Job
	name := a.Name
	if published != nil {
		name = published.name
	}
	if name == "" {
		name = job
	}
	f.mu.Lock()
	if f.model == "" && a.Model != "" {
		f.model = a.Model
		f.log.Info("queue: writing the answers of one model: the first answer's (queue.model_sha256 names one instead)",
			zap.String("model_sha256", a.Model), zap.String("worker", a.Worker))
	}
	own := f.model
	delete(f.published, job)
	f.handed[job] = a.ID
	if r != nil {
		f.writing[r] = job
	}
	f.metrics.inFlight.Set(float64(len(f.published)))
	f.mu.Unlock()
	o := f.outcomeOf(a, job, name)
	if r != nil {
		o.Written = func() { f.answerWritten(r, job) }
	}
	if a.Model != "" && a.Model != own {
		fields := []zap.Field{zap.String("job", job), zap.String("queue_id", a.ID), zap.String("worker", a.Worker),
			zap.String(
				"model_sha256",
				a.Model,
			), zap.String("gateway_model_sha256", own), zap.String("mixed_models", f.cfg.MixedModels)}
		if f.cfg.MixedModels == config.MixedRefuse {
			f.metrics.received.WithLabelValues("other_model").Inc()
			f.log.Warn("answer from another model refused: its file fails with model_mismatch", fields...)
			o.Answer, o.Picture = nil, nil
			o.Failure = &daemon.ErrorFile{File: name, FileBytes: puzzles.NameBytes(name), Code: codeModelMismatch,
				At: time.Now().UTC(), Message: fmt.Sprintf(
					"worker %s answered with model sha256 %s, but this gateway writes the answers of model %s "+
						"(queue.model_sha256, or the first answer's model): give every worker the same model bundle, "+
						"or set queue.mixed_models: flag on the gateway to write them all; then drop the file again",
					a.Worker, a.Model, own)}
			f.h.Deliver(o)
			return
		}
		f.log.Warn("answer from another model written (queue.mixed_models: flag)", fields...)
	}
	f.metrics.received.WithLabelValues("written").Inc()
	f.h.Deliver(o)
}

// answerWritten hears that the outcome of answer message r for job is
// written: its ack is due.
func (f *Fleet) answerWritten(r *queue.Received, job string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.writing, r)
	f.written = append(f.written, r)
	delete(f.handed, job) // its input has left work/: another answer is a duplicate
}

// ackWritten acks the answers written since it last ran.
func (f *Fleet) ackWritten(ctx context.Context) {
	f.mu.Lock()
	written := f.written
	f.written = nil
	f.mu.Unlock()
	for _, r := range written {
		f.ack(ctx, r)
	}
}

// holdWriting tells the cluster that the answers whose write is pending
// (a full disk, a read-only outbox) are still in hand, so that they do not
// come again meanwhile; one whose file has left work/ without it (an
// admin removed the file) has nothing left to write, and is acked.
func (f *Fleet) holdWriting() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for r, job := range f.writing {
		if !exists(f.h.Spool().WorkPath(job)) {
			delete(f.writing, r)
			f.written = append(f.written, r)
			continue
		}
		if err := r.InProgress(); err != nil {
			f.log.Debug("queue: cannot say an answer is being written", zap.String("queue_id", r.ID), zap.Error(err))
		}
	}
}

// ack acks an answer message (nil: one the sweep found, which has none).
func (f *Fleet) ack(ctx context.Context, r *queue.Received) {
	if r == nil {
		return
	}
	if err := r.Ack(ctx); err != nil {
		f.log.Warn("queue: an answer's ack was not confirmed; if it comes again it is dropped as a duplicate", zap.Error(err))
		return
	}
	f.metrics.acks.Inc()
}

// later hands an answer message back to come again after answerLater.
func (f *Fleet) later(r *queue.Received) {
	if r == nil {
		return
	}
	if err := r.Later(answerLater); err != nil {
		f.log.Debug("queue: cannot hand an answer back; it comes again after the ack wait",
			zap.String("queue_id", r.ID), zap.Error(err))
	}
}

// publishReplaced publishes again a file replaced in work/ after it was
// published (other content under the same name): the answer to the
// earlier content was dropped, and the new content needs its own.
func (f *Fleet) publishReplaced(ctx context.Context, work, name string) {
	f.log.Warn("queue: a published file was replaced in work/ by other content; publishing it again",
		zap.String("job", work))
	file, err := puzzles.ReadFile(f.h.Spool().WorkPath(work), f.h.Limits())
	if err != nil {
		return // it left work/ meanwhile, or the intake's rescan sees to it
	}
	if !file.Bundle && work != name {
		file.Tasks[0].DroppedAs = puzzles.TaskName(name)
	}
	f.publishClaim(ctx, &daemon.Job{Name: name, Work: work, File: file})
}

// outcomeOf is what a gateway writes for an answer: the answer (with its
// picture when answers.png is on), or the worker's error file.
func (f *Fleet) outcomeOf(a queue.Answer, job, name string) *daemon.Outcome {
	fields := []zap.Field{
		zap.String("worker", a.Worker),
		zap.Int("attempt", a.Attempt),
		zap.String("provider", a.Provider),
		zap.String("queue_id", a.ID),
		zap.String("model_sha256", a.Model),
	}
	o := &daemon.Outcome{Work: job, Name: name, Fields: fields}
	if a.Failed {
		var e daemon.ErrorFile
		if err := json.Unmarshal(a.Body, &e); err != nil || e.Code == "" {
			why := "it has no code"
			if err != nil {
				why = err.Error()
			}
			e = daemon.ErrorFile{Code: codeBadAnswer, At: time.Now().UTC(),
				Message: fmt.Sprintf("worker %s sent an error file hrmd cannot read: %s", a.Worker, why)}
		}
		e.File, e.FileBytes = name, puzzles.NameBytes(name)
		o.Failure = &e
		return o
	}
	if !json.Valid(a.Body) {
		o.Failure = &daemon.ErrorFile{File: name, FileBytes: puzzles.NameBytes(name), Code: codeBadAnswer,
			At: time.Now().UTC(), Message: fmt.Sprintf("worker %s sent %d bytes that are not a JSON answer",
				a.Worker, len(a.Body))}
		return o
	}
	o.Answer = a.Body
	if f.png.Load() {
		pic, err := f.picture(job, a.Body)
		if err != nil {
			f.log.Warn("no picture for this answer", zap.String("name", job), zap.Error(err))
		}
		o.Picture = pic
	}
	return o
}

// picture draws answers.png from the input in work/ and the answer.
func (f *Fleet) picture(job string, body []byte) ([]byte, error) {
	file, err := puzzles.ReadFile(f.h.Spool().WorkPath(job), f.h.Limits())
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
func (f *Fleet) sweep(ctx context.Context) {
	type claim struct{ job, id string }
	var old []claim
	f.mu.Lock()
	for job := range f.handed {
		if !exists(f.h.Spool().WorkPath(job)) {
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
			f.log.Debug("queue: cannot look for a claim now", zap.String("job", c.job), zap.Error(err))
			return
		case where == queue.Waiting:
			f.mu.Lock()
			if p := f.published[c.job]; p != nil {
				p.at = time.Now()
			}
			f.mu.Unlock()
		case where == queue.Answered:
			f.receive(ctx, *a, nil)
		default:
			f.republish(ctx, c.job, c.id)
		}
	}
}

// republish publishes again a claim the queue lost.
func (f *Fleet) republish(ctx context.Context, work, id string) {
	f.mu.Lock()
	p := f.published[work]
	f.mu.Unlock()
	if p == nil {
		return
	}
	f.log.Warn(
		"queue: a published file is neither waiting nor answered in the cluster; publishing it again",
		zap.String(
			"job",
			work,
		),
		zap.String("queue_id", id),
		zap.String("since", strconv.Quote(p.at.UTC().Format(time.RFC3339))),
	)
	file, err := puzzles.ReadFile(f.h.Spool().WorkPath(work), f.h.Limits())
	if err != nil {
		return // it left work/ meanwhile, or the intake's rescan sees to it
	}
	if !file.Bundle && work != p.name {
		file.Tasks[0].DroppedAs = puzzles.TaskName(p.name)
	}
	f.publishClaim(ctx, &daemon.Job{Name: p.name, Work: work, File: file})
}
