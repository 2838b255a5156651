package bundle

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hrmd/hrmd/internal/atomicfile"
)

// Table is a bundle's puzzle embedding table, memory-mapped: only the
// pages of the rows a run reads come into memory, so a multi-GiB table
// costs the rows in use, not its size.
type Table struct {
	data  []byte
	width int
}

// OpenTable maps the bundle's table, after checking its sha256 once
// (see verifyTable).
func OpenTable(b *Bundle, stampDir string) (*Table, error) {
	p := b.Manifest.PuzzleEmbeddings
	path := b.Path(p.File)
	if _, err := verifyTable(path, p.SHA256, stampDir, false); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("puzzle_embeddings.file: %v", err), Err: err}
	}
	defer f.Close() // the mapping outlives the descriptor
	size := int(p.Rows() * p.Width() * 4)
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("map %s: %v", path, err), Err: err}
	}
	// Rows are read one here, one there: reading ahead around each would
	// bring in megabytes of rows no task asked for.
	_ = syscall.Madvise(data, syscall.MADV_RANDOM)
	return &Table{data: data, width: int(p.Width())}, nil
}

// Row copies row r into dst (width values). A table file cut short or
// rewritten in place while mapped makes the read fault: that is an error
// here, not the end of the process.
func (t *Table) Row(r int, dst []float32) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			err = fmt.Errorf(
				"row %d of the puzzle table cannot be read: the file was cut short or rewritten while hrmd had it open; replace "+
					"a bundle's files by renaming new ones into place, and restart hrmd",
				r,
			)
		}
	}()
	src := t.data[r*t.width*4 : (r+1)*t.width*4]
	for i := range dst[:t.width] {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[i*4:]))
	}
	return nil
}

// Width is a row's number of values.
func (t *Table) Width() int { return t.width }

// Close unmaps the table; a nil or closed table is closed already.
func (t *Table) Close() error {
	if t == nil || t.data == nil {
		return nil
	}
	err := syscall.Munmap(t.data)
	t.data = nil
	return err
}

// tableStamp remembers that a table file had the manifest's sha256, with
// what would change if the file did: reading gigabytes at every start is
// too slow on a small board, so the hash is checked once and again only
// when the file's size, modification time or inode differ.
type tableStamp struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
	// ChangeTime cannot be set from user space, unlike the mtime: a copy
	// over the file that keeps its size and mtime (cp -p, touch -r) still
	// voids the stamp.
	ChangeTime int64  `json:"ctime_ns"`
	Inode      uint64 `json:"inode"`
	Device     uint64 `json:"device"`
	SHA256     string `json:"sha256"`
	Checked    string `json:"checked"`
}

func stampOf(path string, st os.FileInfo, sum string) tableStamp {
	s := tableStamp{Path: path, Size: st.Size(), ModTime: st.ModTime().UnixNano(), SHA256: sum}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.Inode, s.Device, s.ChangeTime = sys.Ino, uint64(sys.Dev), sys.Ctim.Nano()
	}
	return s
}

// StampDir is where the stamps of checked puzzle tables are kept: a folder
// of hrmd's cache (tensorrt.engine_cache), which the service may write; ""
// when there is none (every load then checks the table).
func StampDir(engineCache string) string {
	if engineCache == "" {
		return ""
	}
	return filepath.Join(engineCache, StampDirName)
}

// StampDirName is the stamps' folder in the engine cache, which a cleanup of
// old engines leaves alone.
const StampDirName = "verified"

func stampFile(stampDir, sum string) string { return filepath.Join(stampDir, stampName(sum)) }

func stampName(sum string) string { return "table-" + sum[:16] + ".json" }

// VerifyPuzzleTable checks the bundle's puzzle table against its sha256 as
// a load does (trusting a stamp in stampDir that says it was checked and
// the file has not changed since), or by reading it whatever the stamp
// says with force (hrmd doctor --verify). read says whether it read it.
func VerifyPuzzleTable(b *Bundle, stampDir string, force bool) (read bool, err error) {
	p := b.Manifest.PuzzleEmbeddings
	if p == nil {
		return false, nil
	}
	return verifyTable(b.Path(p.File), p.SHA256, stampDir, force)
}

// verifyTable checks the table's sha256 unless a stamp in stampDir says it
// was checked and the file has not changed since; force checks anyway.
// With no stampDir, or one that cannot be written, it checks every time.
func verifyTable(path, want, stampDir string, force bool) (read bool, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return false, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("puzzle_embeddings.file: %v", err), Err: err}
	}
	if stampDir != "" && !force {
		var old tableStamp
		if data, err := os.ReadFile(stampFile(stampDir, want)); err == nil && json.Unmarshal(data, &old) == nil {
			old.Checked = ""
			if old == stampOf(abs, st, want) {
				return false, nil
			}
		}
	}
	got, _, err := FileSHA256(abs)
	if err != nil {
		return true, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("puzzle_embeddings.file: %v", err), Err: err}
	}
	if got != want {
		if stampDir != "" {
			os.Remove(stampFile(stampDir, want)) // whatever vouched for it before no longer does
		}
		return true, errorf(
			CodeBundleChecksum,
			"%s has sha256 %s but hrm.yaml puzzle_embeddings.sha256 is %s: the file changed after export; copy it again",
			abs,
			got,
			want,
		)
	}
	if stampDir != "" {
		writeStamp(stampDir, stampOf(abs, st, want))
	}
	return true, nil
}

// writeStamp remembers a checked table. One that cannot be written only
// means checking again next time.
func writeStamp(stampDir string, stamp tableStamp) {
	stamp.Checked = time.Now().UTC().Format(time.RFC3339)
	data, _ := json.MarshalIndent(stamp, "", "  ")
	if err := os.MkdirAll(stampDir, 0o755); err != nil {
		return
	}
	// atomicfile writes it 0644: readable by the service when doctor wrote
	// it as another user.
	_ = atomicfile.Write(stampDir, stampName(stamp.SHA256), append(data, '\n'))
}
