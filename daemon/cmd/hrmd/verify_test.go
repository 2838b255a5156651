package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/internal/testenv"
)

// verifyJSON is what the tests read of hrmd verify --json.
type verifyJSON struct {
	Model  string
	Proxy  *struct{ Of, Precision string }
	Passed bool
	Check  struct {
		Precision      string
		Provider       string
		Passed         bool
		CheckSet       string  `json:"check_set"`
		Tau            float64 `json:"tau"`
		Delta          float64 `json:"delta"`
		Cells          int
		CellsUndecided int `json:"cells_undecided"`
		FlipsCounted   int `json:"flips_counted"`
		FlipsUndecided int `json:"flips_undecided"`
		WorstMiss      *struct {
			Cycle  int
			Margin float64
		} `json:"worst_decided_miss"`
		Cycles []struct{ Case, Cycle, Flips int }
	}
}

func verify(t *testing.T, args ...string) (hrmdtest.Result, verifyJSON) {
	t.Helper()
	r := runHrmd(t, append([]string{"verify", "--json"}, args...)...)
	var v verifyJSON
	if r.Stdout != "" {
		if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
			t.Fatalf("verify --json printed no JSON: %v\n%s", err, r.Stdout)
		}
	}
	return r, v
}

// The demo model passes its own check set on the CPU, and the verdict says
// by which rule: tau, delta, the cells judged and not.
func TestVerifyDemo(t *testing.T) {
	r, v := verify(t, "--model", demoBundle)
	if r.Code != 0 || !v.Passed || !v.Check.Passed || v.Proxy != nil {
		t.Fatalf("exit %d, %+v\n%s", r.Code, v, r.Stderr)
	}
	c := v.Check
	if c.Provider != "CPUExecutionProvider" || c.Precision != "fp32" || c.CheckSet != "hrmd-golden/2" ||
		c.Tau <= 0 || c.Delta <= 0 || c.Cells == 0 || c.FlipsCounted != 0 || len(c.Cycles) == 0 {
		t.Errorf("verdict %+v", c)
	}
	text := runHrmd(t, "verify", "--model", demoBundle)
	if text.Code != 0 || !strings.HasPrefix(text.Stdout, "PASSED\n") ||
		!strings.Contains(text.Stdout, "rule: a cell counts where the reference's margin is above tau") {
		t.Errorf("text verdict, exit %d:\n%s", text.Code, text.Stdout)
	}
}

// A reference that says otherwise at decided cells is a miss: exit 1, the
// error code, the worst miss in the JSON. A bundle without a check set has
// nothing to verify against, and says how to give it one.
func TestVerifyMiss(t *testing.T) {
	dir := testenv.CopyDir(t, tinyBundle)
	path := filepath.Join(dir, "golden.json")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]any
	if err := json.Unmarshal(before, &g); err != nil {
		t.Fatal(err)
	}
	cycle := g["cases"].([]any)[0].(map[string]any)["cycles"].([]any)[1].(map[string]any)
	argmax, margins := cycle["argmax"].([]any), cycle["margins"].([]any)
	changed := 0
	for cell := range argmax {
		if margins[cell].(float64) > 0.5 && changed < 3 {
			argmax[cell] = float64((int(argmax[cell].(float64)) + 1) % 12)
			changed++
		}
	}
	if changed != 3 {
		t.Fatalf("case 0 cycle 2 has %d cells of margin above 0.5", changed)
	}
	after, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, after, 0o644); err != nil {
		t.Fatal(err)
	}
	sumBefore, sumAfter := sha256.Sum256(before), sha256.Sum256(after)
	testenv.ReplaceInFile(
		t,
		filepath.Join(dir, "hrm.yaml"),
		hex.EncodeToString(sumBefore[:]),
		hex.EncodeToString(sumAfter[:]),
	)

	r, v := verify(t, "--model", dir)
	if r.Code != 1 || v.Passed || v.Check.FlipsCounted != 3 || v.Check.WorstMiss == nil || v.Check.WorstMiss.Cycle != 2 ||
		v.Check.WorstMiss.Margin <= 0.5 {
		t.Fatalf("exit %d, %+v", r.Code, v.Check)
	}
	if !strings.Contains(
		r.Stderr,
		"error precision_check: nova-tiny on CPUExecutionProvider (fp32) misses its check set",
	) {
		t.Errorf("stderr: %s", r.Stderr)
	}

	testenv.ReplaceInFile(
		t,
		filepath.Join(dir, "hrm.yaml"),
		"check: {file: golden.json, sha256: "+hex.EncodeToString(sumAfter[:])+"}",
		"",
	)
	r = runHrmd(t, "verify", "--model", dir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "has no check set") || !strings.Contains(r.Stderr, "--add-check-set") {
		t.Errorf("no check set: exit %d, %s", r.Code, r.Stderr)
	}
}

// The precision proxies ./build.sh test writes: every bundle stored as fp16
// passes its check, and stored as e4m3 (fp8, the control) fails it.
func TestVerifyProxies(t *testing.T) {
	root := testenv.ProxyBundles(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, e := range entries {
		name := e.Name()
		format := name[strings.LastIndex(name, "-")+1:]
		formats = append(formats, format)
		t.Run(name, func(t *testing.T) {
			r, v := verify(t, "--model", filepath.Join(root, name))
			if v.Proxy == nil || v.Proxy.Precision != format || v.Check.Precision != format+" proxy" || v.Check.Tau <= 0 ||
				v.Check.Delta <= 0 {
				t.Fatalf("exit %d, report %+v\n%s", r.Code, v, r.Stderr)
			}
			switch format {
			case "fp16":
				if r.Code != 0 || !v.Passed || v.Check.FlipsCounted != 0 {
					t.Errorf("fp16 misses: exit %d, %+v\n%s", r.Code, v.Check, r.Stderr)
				}
			case "fp8":
				if r.Code != 1 || v.Passed {
					t.Errorf("fp8 passes: exit %d, %+v", r.Code, v.Check)
				}
			}
		})
	}
	if !slices.Contains(formats, "fp16") || !slices.Contains(formats, "fp8") {
		t.Errorf("%s holds %v; ./build.sh test writes fp16 and fp8 proxies", root, formats)
	}
}
