package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hrmd/hrmd/daemon/config"
	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/puzzles"
)

// runErrorNames: a user's bad input named q.json.error.json lands in
// failed/ as an input, beside the name hrmd gives the error file of a bad
// q.json. Each pair is a crafted q.json.error.json (JSON that reads as the
// error file of q.json: same file, same code) and a bad q.json failing
// with that code, at the same moment: half left in work/a and work/b as a
// kill -9 leaves them (the crafted file older, so it fails first when taken
// up), half dropped together into the inbox of two daemons, a and b. Every
// user file must end in failed/ byte for byte; none may be taken for the
// daemon's own interrupted error file and replaced.
func runErrorNames(e *env) (report, error) {
	s, err := e.newSpool(func(c *config.Config) { c.ONNXRuntime.Threads = 1 })
	if err != nil {
		return report{}, err
	}
	pairs := e.size.errorPairs
	for i := range pairs / 2 {
		if err := s.leaveErrorPair(i, []string{"a", "b"}[i%2]); err != nil {
			return report{}, err
		}
	}
	var procs []*hrmd
	for _, inst := range []string{"a", "b"} {
		p, err := e.startReady(s, startOpts{instance: inst})
		if err != nil {
			return report{}, err
		}
		procs = append(procs, p)
	}
	dropped := time.Now()
	for i := pairs / 2; i < pairs; i++ {
		crafted, bad := errorPair(i)
		if err := s.drop(crafted.name, crafted.data, wantFailed("")); err != nil {
			return report{}, err
		}
		if err := s.drop(bad.name, bad.data, wantFailed(puzzles.CodeNotJSON)); err != nil {
			return report{}, err
		}
	}
	// Not waitFinished: it counts no name ending .error.json, and half the
	// inputs have one.
	if err := hrmdtest.WaitFor("the inbox and work/ "+
		"empty", 5*time.Minute, func() bool { return s.waiting() == 0 }); err != nil {
		return report{}, err
	}
	took := time.Since(dropped)
	for _, p := range procs {
		if err := p.stop(); err != nil {
			e.problem("%v", err)
		}
	}
	v := s.check()
	return report{
		what: fmt.Sprintf(
			"%d files (%d crafted .error.json names, %d left in work/ by a kill, %d dropped), 2 daemons",
			v.files,
			pairs,
			pairs/2*2,
			(pairs-pairs/2)*2,
		),
		v:     v,
		extra: []string{"user files lost " + fmt.Sprint(v.lost), "every file ended " + seconds(took) + " after the drop"},
	}, nil
}

type namedFile struct {
	name string
	data []byte
}

// errorPair is the i-th crafted q.json.error.json and its bad q.json.
func errorPair(i int) (crafted, bad namedFile) {
	q := fmt.Sprintf("q%03d.json", i)
	crafted = namedFile{q + ".error.json", []byte(fmt.Sprintf(
		`{"file": %q, "code": %q, "message": "the user's own file, not hrmd's error file (%d)"}`+"\n",
		q,
		puzzles.CodeNotJSON,
		i,
	))}
	bad = namedFile{q, []byte(fmt.Sprintf(`{"name": "bad %d", "test": [`, i))}
	return crafted, bad
}

// leaveErrorPair puts the i-th pair into work/<inst>/ as a daemon killed
// after claiming both leaves them, the crafted file the older: taken up
// in that order, it fails first.
func (s *spool) leaveErrorPair(i int, inst string) error {
	dir := filepath.Join(s.work, inst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	crafted, bad := errorPair(i)
	old := time.Now().Add(-time.Hour)
	for k, f := range []namedFile{crafted, bad} {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return err
		}
		at := old.Add(time.Duration(k) * time.Minute)
		if err := os.Chtimes(path, at, at); err != nil {
			return err
		}
	}
	if err := s.m.expect(contentID(crafted.data), crafted.name, wantFailed("")); err != nil {
		return err
	}
	return s.m.expect(contentID(bad.data), bad.name, wantFailed(puzzles.CodeNotJSON))
}
