package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// runTelemetry: hrmd run with telemetry asked for (ORT_DISABLE_TELEMETRY=0)
// and none of the CI variables under which onnxruntime keeps quiet by
// itself, $HOME and $TMPDIR its own: after it has answered files, nothing
// at all is under $HOME and no mat-debug log is in $TMPDIR. (Every other
// scenario's daemons are held to no $HOME/.cache too.)
func runTelemetry(e *env) (report, error) {
	s, p, err := e.ready(nil, startOpts{env: []string{"ORT_DISABLE_TELEMETRY=0"}})
	if err != nil {
		return report{}, err
	}
	if err := s.burst("telemetry", 3); err != nil {
		return report{}, err
	}
	if err := s.waitFinished(s.m.dropped(), 2*time.Minute); err != nil {
		return report{}, err
	}
	if err := p.stop(); err != nil {
		e.problem("%v", err)
	}
	if p.Count("telemetry_off") == 0 {
		e.problem("hrmd did not say that it ignores ORT_DISABLE_TELEMETRY=0 (its log: %s)", p.LogPath())
	}
	var written []string
	filepath.WalkDir(e.home, func(path string, _ os.DirEntry, err error) error {
		if path != e.home {
			written = append(written, strings.TrimPrefix(path, e.home+"/"))
		}
		return err
	})
	if len(written) > 0 {
		e.problem("hrmd wrote under $HOME: %v", written)
	}
	v := s.check()
	return report{what: fmt.Sprintf("%d files, ORT_DISABLE_TELEMETRY=0 and no CI variables", v.files), v: v,
		extra: []string{fmt.Sprintf("%d entries under $HOME", len(written))}}, nil
}
