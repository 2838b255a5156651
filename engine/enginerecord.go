package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hrmd/hrmd/engine/bundle"
)

// EngineFile is one file of a built engine's folder as the record keeps
// it: what onnxruntime wrote there, to tell a file damaged since (cut short
// by a power loss, changed on disk) from an intact one that TensorRT
// refuses for a reason of the moment.
type EngineFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// engineFiles lists dir's files with their sizes and sha256s, by name: every
// regular file but hrmd's own (the record and the hidden temporary files
// it is written through). Every file, rather than *.engine and *.profile:
// onnxruntime's TensorRT provider reads back the engine (or its
// .encrypted form) and the .profile beside it (a profile that differs
// makes it build over the engine), and what else a version of it writes
// there belongs to the engine just as much; a file that was not there when
// the engine was built is something else writing into the folder.
func engineFiles(dir string) ([]EngineFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list the engine's files: %w", err)
	}
	var out []EngineFile
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == recordFile || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		sum, size, err := bundle.FileSHA256(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read the engine's files: %w", err)
		}
		out = append(out, EngineFile{Name: e.Name(), Size: size, SHA256: sum})
	}
	return out, nil
}

// filesChanged says how dir's files differ from the record's, "" when they
// are as they were built. A record without files (none, or one written by
// an hrmd that did not keep them) cannot vouch for anything.
func (r *EngineRecord) filesChanged(dir string) string {
	if r == nil {
		return "the folder has no " + recordFile + " to compare its files with"
	}
	if len(r.Files) == 0 {
		return recordFile + " lists no files (written by an hrmd that did not keep them)"
	}
	now, err := engineFiles(dir)
	if err != nil {
		return err.Error()
	}
	var diffs []string
	for _, want := range r.Files {
		i := slices.IndexFunc(now, func(f EngineFile) bool { return f.Name == want.Name })
		switch {
		case i < 0:
			diffs = append(diffs, want.Name+" is missing")
		case now[i].Size != want.Size:
			diffs = append(diffs, fmt.Sprintf("%s has %d bytes, %d when built", want.Name, now[i].Size, want.Size))
		case now[i].SHA256 != want.SHA256:
			diffs = append(diffs, want.Name+"'s sha256 differs from the one when built")
		}
	}
	for _, f := range now {
		if !slices.ContainsFunc(r.Files, func(w EngineFile) bool { return w.Name == f.Name }) {
			diffs = append(diffs, f.Name+" was not there when built")
		}
	}
	return strings.Join(diffs, "; ")
}
