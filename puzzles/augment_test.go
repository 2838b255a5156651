package puzzles

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// Every dihedral transform with a colour permutation maps back exactly to
// the grid it came from, the 8 transforms give 8 different grids of an
// asymmetric grid, and rotations compose as they should.
func TestAugmentationsInvertExactly(t *testing.T) {
	g := Grid{{0, 1, 2}, {3, 4, 5}} // 2x3, no symmetry
	perm := Identity()
	perm.Colours = [10]int{0, 3, 9, 1, 7, 2, 8, 4, 6, 5}
	seen := []Grid{}
	for d := range 8 {
		for _, colours := range [][10]int{Identity().Colours, perm.Colours} {
			a := Augmentation{Dihedral: d, Colours: colours}
			out := a.Apply(g)
			if back := a.Invert(out); !back.Equal(g) {
				t.Errorf("%v: Invert(Apply(g)) = %v, want %v", a, back, g)
			}
			if d == 1 || d == 3 || d == 6 || d == 7 {
				if out.Rows() != 3 || out.Cols() != 2 {
					t.Errorf("%v: %s, want 3x2", a, out.Size())
				}
			}
		}
		plain := Augmentation{Dihedral: d, Colours: Identity().Colours}.Apply(g)
		if slices.ContainsFunc(seen, plain.Equal) {
			t.Errorf("transform %d repeats another: %v", d, plain)
		}
		seen = append(seen, plain)
	}
	rot := func(g Grid, d int) Grid { return Augmentation{Dihedral: d, Colours: Identity().Colours}.Apply(g) }
	if !rot(rot(g, 1), 1).Equal(rot(g, 2)) || !rot(rot(g, 2), 1).Equal(rot(g, 3)) || !rot(rot(g, 3), 1).Equal(g) {
		t.Error("rotations by 90° do not compose to 180°, 270° and 360°")
	}
	if want := (Grid{{3, 0}, {4, 1}, {5, 2}}); !rot(g, 1).Equal(want) {
		t.Errorf("rot90 clockwise = %v, want %v", rot(g, 1), want)
	}
}

func TestAugmentationsList(t *testing.T) {
	augs := Augmentations(MaxAugmentations)
	if len(augs) != MaxAugmentations+1 || !reflect.DeepEqual(augs[0], Identity()) {
		t.Fatalf("%d augmentations, first %v", len(augs), augs[0])
	}
	for i, a := range augs {
		if a.Colours[0] != 0 {
			t.Errorf("variant %d moves colour 0: %v", i, a.Colours)
		}
		sorted := slices.Clone(a.Colours[:])
		slices.Sort(sorted)
		if !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("variant %d is not a permutation: %v", i, a.Colours)
		}
		if i > 0 && a.Dihedral != i%8 {
			t.Errorf("variant %d has transform %d", i, a.Dihedral)
		}
		if recoloured := a.Colours != Identity().Colours; recoloured != (i >= 8) {
			t.Errorf("variant %d: colours %v; only variants from 8 on permute them", i, a.Colours)
		}
	}
	if again := Augmentations(MaxAugmentations); !reflect.DeepEqual(again, augs) {
		t.Error("the augmentations differ from call to call")
	}
}

// Every Sudoku variant, applied to random grids and inverted, gives the grid
// back; applied to a solved Sudoku it gives a solved Sudoku (the rules hold,
// so the shuffles keep bands and stacks whole), and to its puzzle the
// matching puzzle.
func TestSudokuAugmentationsInvertExactly(t *testing.T) {
	augs := SudokuAugmentations(MaxAugmentations)
	if len(augs) != MaxAugmentations+1 || !reflect.DeepEqual(augs[0], Identity()) {
		t.Fatalf("%d augmentations, first %v", len(augs), augs[0])
	}
	if !reflect.DeepEqual(augs, SudokuAugmentations(MaxAugmentations)) {
		t.Error("the Sudoku augmentations differ from call to call")
	}
	r := rand.New(rand.NewPCG(1, 2))
	solved, puzzle := testSudoku()
	transposed := 0
	for i, a := range augs {
		if a.Colours[0] != 0 {
			t.Errorf("variant %d moves the blank: %v", i, a.Colours)
		}
		if a.Dihedral == 6 {
			transposed++
		}
		for range 20 {
			g := NewGrid(9, 9)
			for row := range g {
				for c := range g[row] {
					g[row][c] = r.IntN(10)
				}
			}
			if back := a.Invert(a.Apply(g)); !back.Equal(g) {
				t.Fatalf("%v: Invert(Apply(g)) = %v, want %v", a, back, g)
			}
		}
		out := a.Apply(solved)
		if v := sudokuClash(out, true); v != "" {
			t.Errorf("%v turns a solved Sudoku into one that breaks the rules: %s", a, v)
		}
		if verdict, why := EncodingSudoku.Verify(a.Apply(puzzle), out); verdict != VerifiedValid {
			t.Errorf("%v: the variant's solution does not solve the variant's puzzle: %s %s", a, verdict, why)
		}
	}
	if transposed == 0 || transposed == len(augs)-1 {
		t.Errorf("%d of %d variants transpose; sapient's builder transposes half of them", transposed, len(augs)-1)
	}
	if got := EncodingMaze.Augmentations(8); len(got) != 1 {
		t.Errorf("a maze has %d variants; it has none but itself", len(got))
	}
}

// Votes rank by count, then by mean halt, then by first appearance; grid-less
// variants do not vote.
func TestVote(t *testing.T) {
	a, b, c := Grid{{1}}, Grid{{2}}, Grid{{3}}
	tests := []struct {
		name  string
		grids []Grid
		halts []float64
		want  []Candidate
	}{
		{"majority", []Grid{a, b, b, c}, []float64{0.9, 0.5, 0.6, 0.99},
			[]Candidate{{b, 2, 0.55}, {c, 1, 0.99}, {a, 1, 0.9}}},
		{"tie broken by halt", []Grid{a, b, a, b}, []float64{0.2, 0.9, 0.4, 0.7},
			[]Candidate{{b, 2, 0.8}, {a, 2, 0.3}}},
		{"full tie: first seen", []Grid{c, a}, []float64{0.5, 0.5}, []Candidate{{c, 1, 0.5}, {a, 1, 0.5}}},
		{"no grid does not vote", []Grid{{}, a}, []float64{1, 0.1}, []Candidate{{a, 1, 0.1}}},
	}
	for _, tt := range tests {
		got := Vote(tt.grids, tt.halts)
		if len(got) != len(tt.want) {
			t.Fatalf("%s: %v, want %v", tt.name, got, tt.want)
		}
		for i := range got {
			if !got[i].Grid.Equal(tt.want[i].Grid) || got[i].Votes != tt.want[i].Votes ||
				math.Abs(got[i].MeanHalt-tt.want[i].MeanHalt) > 1e-12 {
				t.Errorf("%s: candidate %d %+v, want %+v", tt.name, i, got[i], tt.want[i])
			}
		}
		// Deterministic: the same input, the same ranking.
		for range 3 {
			again := Vote(tt.grids, tt.halts)
			for i := range again {
				if !again[i].Grid.Equal(got[i].Grid) {
					t.Fatalf("%s: the ranking changed between runs", tt.name)
				}
			}
		}
	}
}
