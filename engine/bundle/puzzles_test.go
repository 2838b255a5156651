package bundle

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hrmd/hrmd/internal/testenv"
	"github.com/hrmd/hrmd/puzzles"
)

func TestParseVariant(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		tr   uint8
		maps [10]uint8
	}{
		{"t1_0123456789", true, 1, [10]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"t7_0987654321", true, 7, [10]uint8{0, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"t8_0123456789", false, 0, [10]uint8{}},  // only 8 transforms
		{"t1_1023456789", false, 0, [10]uint8{}},  // black moves
		{"t1_0113456789", false, 0, [10]uint8{}},  // not a permutation
		{"t1_012345678", false, 0, [10]uint8{}},   // nine colours
		{"x1_0123456789", false, 0, [10]uint8{}},  // not a transform
		{"t1-0123456789", false, 0, [10]uint8{}},  // no underscore
		{"t1_01234567890", false, 0, [10]uint8{}}, // eleven
	} {
		v, ok := parseVariant(tt.in)
		if ok != tt.ok || ok && (v.Transform != tt.tr || v.Colours != tt.maps) {
			t.Errorf("%s: %+v, %v", tt.in, v, ok)
		}
	}
}

// puzzleBundle writes a table of rows x width float32 (row r, column c holds
// r + c/1000) and its identifiers, and returns the bundle that names them.
func puzzleBundle(t *testing.T, names []string, width int) *Bundle {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 0, len(names)*width*4)
	for r := range names {
		for c := range width {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(r)+float32(c)/1000))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "puzzle_emb.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.WriteJSON(t, filepath.Join(dir, "identifiers.json"), names)
	sum := sha256.Sum256(data)
	return &Bundle{Dir: dir, Manifest: Manifest{PuzzleEmbeddings: &PuzzleEmbeddings{
		File: "puzzle_emb.bin", DType: "float32", Shape: []int64{int64(len(names)), int64(width)},
		SHA256: hex.EncodeToString(sum[:]), Identifiers: "identifiers.json", Input: "puzzle_emb",
	}}}
}

func TestPuzzleIndex(t *testing.T) {
	names := []string{
		BlankPuzzle,
		"007bbfb7",
		"007bbfb7_t1_0123456789",
		"007bbfb7_t4_0912345678",
		"3631a71a",
		"007bbfb7_t9_0123456789",
		"other_t1_0123456789",
	}
	b := puzzleBundle(t, names, 3)
	idx, err := readPuzzleIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := idx.Row("007bbfb7"); !ok || r != 1 {
		t.Errorf("007bbfb7: row %d, %v", r, ok)
	}
	if _, ok := idx.Row(BlankPuzzle); ok {
		t.Error("the blank row counts as a puzzle's own")
	}
	if _, ok := idx.Row("nope"); ok {
		t.Error("an unknown puzzle has a row")
	}
	v := idx.Variants("007bbfb7")
	if len(v) != 2 || v[0].Row != 2 || v[0].Transform != 1 || v[1].Row != 3 || v[1].Transform != 4 ||
		v[1].Colours[1] != 9 {
		t.Errorf("variants %+v", v)
	}

	for _, tt := range []struct {
		name  string
		edit  func(b *Bundle)
		code  string
		field string
	}{
		{"rows", func(b *Bundle) { b.Manifest.PuzzleEmbeddings.Shape[0]++ }, CodeBundleInvalid, "names 7 rows but hrm.yaml " +
			"puzzle_embeddings.shape has 8"},
		{"short table", func(b *Bundle) {
			b.Manifest.PuzzleEmbeddings.Shape[1]++
		}, CodeBundleChecksum, "is cut short or another table"},
		{"blank", func(b *Bundle) {
			testenv.WriteJSON(t, b.Path("identifiers.json"), append([]string{"x"}, names[1:]...))
		}, CodeBundleInvalid, `row 0 is "<blank>"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := puzzleBundle(t, names, 3)
			tt.edit(b)
			_, err := readPuzzleIndex(b)
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code || !strings.Contains(e.Message, tt.field) {
				t.Errorf("got %v, want %s: ...%s...", err, tt.code, tt.field)
			}
		})
	}
}

// The table is read through a memory map, and its sha256 is checked once:
// a stamp remembers it until the file's size, mtime, ctime or inode change.
func TestPuzzleTable(t *testing.T) {
	b := puzzleBundle(t, []string{BlankPuzzle, "a", "b"}, 4)
	stamps := t.TempDir()
	table, err := OpenTable(b, stamps)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float32, 4)
	if err := table.Row(2, row); err != nil || row[0] != 2 || row[3] != 2.003 {
		t.Errorf("row 2 reads %v, %v", row, err)
	}
	if err := table.Close(); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Names(stamps); len(got) != 1 {
		t.Fatalf("stamps %v, want one", got)
	}
	path := b.Path("puzzle_emb.bin")
	want := b.Manifest.PuzzleEmbeddings.SHA256
	if read, err := verifyTable(path, want, stamps, false); err != nil || read {
		t.Errorf("an unchanged file: read %v, %v; want the stamp trusted", read, err)
	}
	if read, err := verifyTable(path, want, stamps, true); err != nil || !read {
		t.Errorf("forced: read %v, %v; want it read", read, err)
	}

	// Changed in place with its mtime put back (as cp -p or touch -r would):
	// its ctime moved, so the stamp no longer vouches for it; the mismatch
	// removes the stamp.
	st, _ := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, 0)
	f.Close()
	os.Chtimes(path, st.ModTime(), st.ModTime())
	var e *Error
	if _, err := verifyTable(path, want, stamps, false); !errors.As(err, &e) || e.Code != CodeBundleChecksum {
		t.Errorf("changed in place: %v, want %s", err, CodeBundleChecksum)
	}
	if got := testenv.Names(stamps); len(got) != 0 {
		t.Errorf("stamps %v after a mismatch, want none", got)
	}
	// Without a stamp folder it checks every time.
	if _, err := verifyTable(path, want, "", false); !errors.As(err, &e) || e.Code != CodeBundleChecksum {
		t.Errorf("no stamps: %v, want %s", err, CodeBundleChecksum)
	}
}

// A table cut short while mapped (a copy over it in place) fails the row
// read with an error; the process lives on.
func TestPuzzleTableCutShort(t *testing.T) {
	b := puzzleBundle(t, []string{BlankPuzzle, "a", "b"}, 2048) // rows of 8 KiB: two pages each
	table, err := OpenTable(b, "")
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()
	if err := os.Truncate(b.Path("puzzle_emb.bin"), 0); err != nil {
		t.Fatal(err)
	}
	row := make([]float32, 2048)
	if err := table.Row(2, row); err == nil || !strings.Contains(err.Error(), "cut short or rewritten") {
		t.Errorf("a row past the end of a truncated table: %v", err)
	}
}

// A variant's transform numbers are numpy's (build_arc_dataset.py's
// dihedral_transform: 1 is np.rot90, a quarter turn anticlockwise); hrmd
// applies the same grid, colours first.
func TestPuzzleVariantAugmentation(t *testing.T) {
	g := puzzles.Grid{{1, 2, 3}, {4, 5, 6}}
	numpy := map[int]puzzles.Grid{ // what dihedral_transform(g, t) returns, worked out by hand
		0: {{1, 2, 3}, {4, 5, 6}},
		1: {{3, 6}, {2, 5}, {1, 4}}, // np.rot90(g, 1)
		2: {{6, 5, 4}, {3, 2, 1}},
		3: {{4, 1}, {5, 2}, {6, 3}},
		4: {{3, 2, 1}, {6, 5, 4}},   // fliplr
		5: {{4, 5, 6}, {1, 2, 3}},   // flipud
		6: {{1, 4}, {2, 5}, {3, 6}}, // transpose
		7: {{6, 3}, {5, 2}, {4, 1}}, // fliplr(rot90(g, 1))
	}
	identity := [10]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for tr, want := range numpy {
		got := PuzzleVariant{Transform: uint8(tr), Colours: identity}.Augmentation().Apply(g)
		if !got.Equal(want) {
			t.Errorf("t%d: %v, want %v", tr, got, want)
		}
	}
	swap := identity
	swap[1], swap[2] = 2, 1
	if got := (PuzzleVariant{Transform: 0, Colours: swap}).Augmentation().Apply(g); !got.Equal(
		puzzles.Grid{{2, 1, 3}, {4, 5, 6}},
	) {
		t.Errorf("colour map: %v", got)
	}
}

// A table is mapped, not read: reading three rows of a 100,000-row table
// brings a few pages of it into memory, not the table.
func TestPuzzleTableIsMapped(t *testing.T) {
	names := make([]string, 100_000)
	names[0] = BlankPuzzle
	for i := 1; i < len(names); i++ {
		names[i] = fmt.Sprintf("p%06d", i)
	}
	b := puzzleBundle(t, names, 32) // 12.8 MB
	stamps := t.TempDir()
	if _, err := verifyTable(b.Path("puzzle_emb.bin"), b.Manifest.PuzzleEmbeddings.SHA256, stamps, false); err != nil {
		t.Fatal(err)
	}
	// Out of the page cache, as a table is after a reboot (the stamp spares
	// reading it again): pages just written or read are mapped whole
	// folios at a time.
	f, err := os.Open(b.Path("puzzle_emb.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Sync()
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	f.Close()
	table, err := OpenTable(b, stamps)
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()
	row := make([]float32, 32)
	for _, r := range []int{1, 50_000, 99_999} {
		if err := table.Row(r, row); err != nil || row[0] != float32(r) {
			t.Fatalf("row %d reads %v", r, row[:2])
		}
	}
	size := len(names) * 32 * 4 / 1024
	rss := testenv.MappedRSS(t, b.Path("puzzle_emb.bin"))
	if rss*10 > size || rss == 0 {
		t.Errorf("%d KiB of the %d KiB table resident after reading 3 rows; want a few pages", rss, size)
	}
	t.Logf("%d KiB of the %d KiB table resident after reading 3 rows", rss, size)
}
