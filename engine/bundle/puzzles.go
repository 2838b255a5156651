package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/hrmd/hrmd/puzzles"
)

// PuzzleEmbeddings is hrm.yaml's puzzle_embeddings: act-v1 learns one row
// per puzzle identifier (every augmentation of every puzzle it was trained
// or evaluated on). The table stays outside the graphs, in a raw file the
// engine memory-maps: it can exceed 2 GiB, more than an ONNX file holds
// and more than a small board should read into memory.
type PuzzleEmbeddings struct {
	File   string  `yaml:"file"`   // raw little-endian float32, row-major [rows, width], no header
	DType  string  `yaml:"dtype"`  // float32
	Shape  []int64 `yaml:"shape"`  // [rows, width]
	SHA256 string  `yaml:"sha256"` // checked once and remembered (see verifyTable)
	// Identifiers is the checkpoint's identifiers.json: a JSON list naming
	// each row; row 0 is "<blank>", the row of a puzzle the model never saw.
	Identifiers       string `yaml:"identifiers"`
	IdentifiersSHA256 string `yaml:"identifiers_sha256"`
	Input             string `yaml:"input"` // the init input that takes a row
}

// BlankPuzzle is the name of row 0, the row of no puzzle in particular.
const BlankPuzzle = "<blank>"

// Rows is the table's number of rows, the blank one included.
func (p *PuzzleEmbeddings) Rows() int64 { return p.Shape[0] }

// Width is a row's number of values.
func (p *PuzzleEmbeddings) Width() int64 { return p.Shape[1] }

// checkInitInputs: init takes the tokens, and the puzzle row when the
// bundle has a table.
func (m *Manifest) checkInitInputs() error {
	init := m.Graphs.Init
	p := m.PuzzleEmbeddings
	if p == nil {
		if !slices.Equal(init.Inputs, []string{TokensInput}) {
			return fmt.Errorf(
				"graphs.init.inputs is %v; without puzzle_embeddings init takes exactly one input, %q",
				init.Inputs,
				TokensInput,
			)
		}
		return nil
	}
	switch {
	case p.DType != "float32":
		return fmt.Errorf(
			"puzzle_embeddings.dtype is %q; hrmd reads float32 tables (export again with engine/export/hrm_export.py)",
			p.DType,
		)
	case len(p.Shape) != 2 || p.Shape[0] < 1 || p.Shape[1] < 1:
		return fmt.Errorf("puzzle_embeddings.shape is %v; it must be [rows, width], both positive", p.Shape)
	case p.Input == "" || p.Input == TokensInput:
		return fmt.Errorf("puzzle_embeddings.input is %q; name the init input that takes the puzzle row", p.Input)
	case !slices.Equal(init.Inputs, []string{TokensInput, p.Input}):
		return fmt.Errorf(
			"graphs.init.inputs is %v; with puzzle_embeddings init takes [%s, %s]",
			init.Inputs,
			TokensInput,
			p.Input,
		)
	}
	return nil
}

// PuzzleIndex names the rows of a bundle's puzzle table.
type PuzzleIndex struct {
	names    []string
	rows     map[string]int
	variants map[string][]PuzzleVariant // by the puzzle's own identifier
	width    int
}

// readPuzzleIndex reads identifiers.json and checks it and the table's size
// against the manifest.
func readPuzzleIndex(b *Bundle) (*PuzzleIndex, error) {
	p := b.Manifest.PuzzleEmbeddings
	path := b.Path(p.Identifiers)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("puzzle_embeddings.identifiers: %v", err), Err: err}
	}
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return nil, errorf(
			CodeBundleInvalid,
			"%s: %v; it must be the checkpoint's identifiers.json, a list of names",
			path,
			err,
		)
	}
	if int64(len(names)) != p.Rows() {
		return nil, errorf(
			CodeBundleInvalid,
			"%s names %d rows but hrm.yaml puzzle_embeddings.shape has %d",
			path,
			len(names),
			p.Rows(),
		)
	}
	if names[0] != BlankPuzzle {
		return nil, errorf(
			CodeBundleInvalid,
			"%s starts with %q; row 0 is %q in every checkpoint's identifiers.json",
			path,
			names[0],
			BlankPuzzle,
		)
	}
	table := b.Path(p.File)
	st, err := os.Stat(table)
	if err != nil {
		return nil, &Error{Code: CodeBundleInvalid, Message: fmt.Sprintf("puzzle_embeddings.file: %v", err), Err: err}
	}
	if want := p.Rows() * p.Width() * 4; st.Size() != want {
		return nil, errorf(
			CodeBundleChecksum,
			"%s has %d bytes but hrm.yaml puzzle_embeddings.shape %v of float32 means %d: the file is cut short or another "+
				"table; copy it again",
			table,
			st.Size(),
			p.Shape,
			want,
		)
	}
	idx, err := NewPuzzleIndex(names, int(p.Width()))
	if err != nil {
		return nil, errorf(CodeBundleInvalid, "%s: %v", path, err)
	}
	return idx, nil
}

// NewPuzzleIndex indexes the names of a table's rows (identifiers.json) of
// width values each.
func NewPuzzleIndex(names []string, width int) (*PuzzleIndex, error) {
	idx := &PuzzleIndex{
		names:    names,
		rows:     make(map[string]int, len(names)),
		variants: map[string][]PuzzleVariant{},
		width:    width,
	}
	for i, n := range names {
		if _, dup := idx.rows[n]; dup {
			return nil, fmt.Errorf("%q is named twice (rows %d and %d)", n, idx.rows[n], i)
		}
		idx.rows[n] = i
		if cut := len(n) - 14; cut > 0 && n[cut] == '_' {
			if v, ok := parseVariant(n[cut+1:]); ok {
				v.Row = int32(i)
				idx.variants[n[:cut]] = append(idx.variants[n[:cut]], v)
			}
		}
	}
	return idx, nil
}

// Row is the table row of the puzzle identifier name; false when the model
// has none (the puzzle is out of its distribution: run it with row 0).
func (x *PuzzleIndex) Row(name string) (int, bool) {
	r, ok := x.rows[name]
	return r, ok && r != 0
}

// Name is the identifier of row r.
func (x *PuzzleIndex) Name(r int) string { return x.names[r] }

// Len is the number of rows, the blank one included.
func (x *PuzzleIndex) Len() int { return len(x.names) }

// Width is a row's number of values.
func (x *PuzzleIndex) Width() int { return x.width }

// PuzzleVariant is an augmented copy of a puzzle the model has a row for:
// dataset/build_arc_dataset.py names it "<id>_t<k>_<map>", the dihedral
// transform k (0-7) applied after the colour map (map[c] is colour c's
// new colour).
// Small on purpose: a real ARC checkpoint names some 800,000 of them.
type PuzzleVariant struct {
	Row       int32
	Transform uint8
	Colours   [10]uint8
}

// Variants lists the augmented copies of puzzle id that have rows, in row
// order. Names that do not parse are not augmentations.
func (x *PuzzleIndex) Variants(id string) []PuzzleVariant { return x.variants[id] }

// fromNumpyDihedral maps build_arc_dataset.py's transform numbers to
// puzzles.Augmentation's: its 1 is np.rot90(k=1), a quarter turn
// anticlockwise, which is puzzles' 3 (and its 3 puzzles' 1); the mirrors,
// the transpose and the anti-transpose agree.
func fromNumpyDihedral(t int) int { return [8]int{0, 3, 2, 1, 4, 5, 6, 7}[t] }

// Augmentation is the variant as hrmd applies it: the colour map, then the
// transform, as the dataset builder made it (dihedral_transform(mapping[grid], t)).
func (v PuzzleVariant) Augmentation() puzzles.Augmentation {
	a := puzzles.Augmentation{Dihedral: fromNumpyDihedral(int(v.Transform))}
	for i, c := range v.Colours {
		a.Colours[i] = int(c)
	}
	return a
}

// parseVariant reads "t<k>_<ten digits>", the colour map a permutation of
// 0-9 that keeps 0.
func parseVariant(s string) (PuzzleVariant, bool) {
	var v PuzzleVariant
	if len(s) != 13 || s[0] != 't' || s[1] < '0' || s[1] > '7' || s[2] != '_' {
		return v, false
	}
	v.Transform = s[1] - '0'
	seen := 0
	for i, c := range s[3:] {
		if c < '0' || c > '9' || seen&(1<<(c-'0')) != 0 {
			return v, false
		}
		seen |= 1 << (c - '0')
		v.Colours[i] = uint8(c - '0')
	}
	return v, v.Colours[0] == 0
}
