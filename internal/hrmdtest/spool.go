package hrmdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hrmd/hrmd/daemon/spool"
)

// SpoolIn is the layout of a spool in dir: its inbox, outbox and spool
// folders side by side, work/<instance> in the spool.
func SpoolIn(dir, instance string) spool.Layout {
	return spool.Layout{Inbox: filepath.Join(dir, "inbox"), Outbox: filepath.Join(dir, "outbox"),
		Root: filepath.Join(dir, "spool"), Instance: instance}
}

// MakeSpool creates the folders of l that a daemon writes, before one runs.
func MakeSpool(l spool.Layout) error {
	for _, f := range l.Folders() {
		if err := os.MkdirAll(f.Dir, 0o755); err != nil {
			return fmt.Errorf("make the spool: %w", err)
		}
	}
	return nil
}

// Drop puts a file into the inbox the way a careful writer does: a hidden
// temporary name, then a rename, so the daemon never sees half a file.
func Drop(inbox, name string, data []byte) error {
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(inbox, "."+name+".writing")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(inbox, name))
}

// Inputs lists the task files of done/ or failed/: not the error files,
// nor the hidden temporary files of writes in progress.
func Inputs(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if n := e.Name(); !strings.HasSuffix(n, spool.ErrorName("")) && !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}
