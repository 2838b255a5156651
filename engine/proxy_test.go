//go:build cgo

package engine

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hrmd/hrmd/engine/bundle"
	"github.com/hrmd/hrmd/internal/testenv"
)

// representable says whether x is a number of a format with mantissa bits
// after the point, exponents from minExp and largest as its largest: a
// multiple of the quantum at its exponent, and not beyond the largest.
func representable(x float32, mantissa, minExp int, largest float64) bool {
	v := math.Abs(float64(x))
	if v == 0 {
		return true
	}
	if v > largest {
		return false
	}
	_, e := math.Frexp(v) // v = f * 2^e, f in [0.5, 1)
	exp := max(e-1, minExp)
	q := math.Ldexp(1, exp-mantissa)
	return math.Mod(v, q) == 0
}

// roundTo is x rounded to the format (to nearest, ties to even; beyond the
// largest: the largest, as the 8-bit formats saturate).
func roundTo(x float32, mantissa, minExp int, largest float64) float64 {
	v := math.Abs(float64(x))
	if v == 0 {
		return 0
	}
	_, e := math.Frexp(v)
	q := math.Ldexp(1, max(e-1, minExp)-mantissa)
	return math.Copysign(min(math.RoundToEven(v/q)*q, largest), float64(x))
}

// firstStep runs one cycle of the check set's first input and returns the
// logits.
func firstStep(t *testing.T, rt *Runtime, dir string) []float32 {
	t.Helper()
	m := loadModel(t, rt, dir, 1)
	cs, err := bundle.LoadCheckSet(m.Bundle())
	if err != nil || cs == nil {
		t.Fatalf("check set of %s: %v", dir, err)
	}
	var logits []float32
	m.onStep = func(_ int, active []int, l []float32) { logits = slices.Clone(l[:len(active)*m.seq*m.vocab]) }
	if _, err := m.Run(context.Background(), cs.Tokens()[:1], RunOptions{Halting: HaltFixed, MaxCycles: 1}); err != nil {
		t.Fatal(err)
	}
	return logits
}

// ONNX Runtime, with every graph optimisation on as hrmd runs it, keeps the
// rounding a precision proxy inserts: every logit the fp16 proxy of the
// tiny bundle gives is an fp16 number, every one of the fp8 proxy an e4m3
// number, and they are not the fp32 logits rounded at the end (the
// rounding inside the graph took place too).
func TestPrecisionProxyRoundsInONNXRuntime(t *testing.T) {
	root := testenv.ProxyBundles(t)
	rt, _ := openRuntime(t, cpuConfig())
	plain := firstStep(t, rt, fixtureDir)
	for _, tt := range []struct {
		format   string
		mantissa int
		minExp   int
		largest  float64
	}{
		{"fp16", 10, -14, 65504},
		{"fp8", 3, -6, 448},
	} {
		t.Run(tt.format, func(t *testing.T) {
			got := firstStep(t, rt, filepath.Join(root, "nova-tiny-"+tt.format))
			if len(got) != len(plain) {
				t.Fatalf("%d logits, fp32 %d", len(got), len(plain))
			}
			inner := 0
			for i, x := range got {
				if !representable(x, tt.mantissa, tt.minExp, tt.largest) {
					t.Fatalf("logit %d is %v: not an %s number", i, x, tt.format)
				}
				if float64(x) != roundTo(plain[i], tt.mantissa, tt.minExp, tt.largest) {
					inner++ // not the fp32 logit rounded: rounded upstream too
				}
			}
			if inner < len(got)/100 {
				t.Errorf("the %s proxy's logits are the fp32 ones rounded at the end but for %d of %d", tt.format, inner, len(got))
			}
			t.Logf("%s: %d of %d logits differ from the fp32 logits rounded at the end", tt.format, inner, len(got))
		})
	}
}

// The test's own judge of representable numbers knows the formats.
func TestRepresentable(t *testing.T) {
	for _, tt := range []struct {
		x    float32
		m, e int
		max  float64
		want bool
	}{
		{1, 10, -14, 65504, true},
		{1 + 1.0/1024, 10, -14, 65504, true},
		{1 + 1.0/2048, 10, -14, 65504, false},
		{65504, 10, -14, 65504, true},
		{65520, 10, -14, 65504, false},
		{float32(math.Ldexp(1, -24)), 10, -14, 65504, true},
		{float32(math.Ldexp(1, -25)), 10, -14, 65504, false},
		{448, 3, -6, 448, true},
		{0.1015625, 3, -6, 448, true},
		{0.1, 3, -6, 448, false},
		{float32(math.Ldexp(1, -9)), 3, -6, 448, true},
		{float32(math.Ldexp(1, -10)), 3, -6, 448, false},
	} {
		if got := representable(tt.x, tt.m, tt.e, tt.max); got != tt.want {
			t.Errorf("representable(%v, m%d, e%d) = %v", tt.x, tt.m, tt.e, got)
		}
	}
}
