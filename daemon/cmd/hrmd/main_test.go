package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hrmd/hrmd/internal/hrmdtest"
	"github.com/hrmd/hrmd/puzzles"
)

// hrmdBin is the real hrmd, built once for these tests, which run it as a
// process: its exit status and output are what users see.
var hrmdBin string

func TestMain(m *testing.M) { os.Exit(hrmdtest.Main(m, &hrmdBin)) }

// The bundles and tasks the tests use, as seen from this folder.
var (
	repoRoot   = filepath.Join("..", "..", "..")
	tinyBundle = filepath.Join(repoRoot, "engine", "testdata", "nova-tiny")
	actBundle  = filepath.Join(repoRoot, "engine", "testdata", "act-v1-tiny")
	// sudokuBundle and mazeBundle are act-v1-tiny's kin for sapient's
	// Sudoku and maze datasets (random weights).
	sudokuBundle = filepath.Join(repoRoot, "engine", "testdata", "act-v1-sudoku-tiny")
	mazeBundle   = filepath.Join(repoRoot, "engine", "testdata", "act-v1-maze-tiny")
	// zeroBundle is nova-tiny with its output forced to colour 0.
	zeroBundle  = filepath.Join(repoRoot, "engine", "testdata", "nova-zero")
	demoBundle  = filepath.Join(repoRoot, "engine", "models", "demo")
	examplesDir = filepath.Join(repoRoot, "puzzles", "examples")
	arcDir      = filepath.Join(repoRoot, "testdata", "arc", "ARC-AGI-1")
)

func runHrmd(t *testing.T, args ...string) hrmdtest.Result {
	t.Helper()
	return hrmdtest.Run(t, hrmdtest.Command(t, hrmdBin, args...))
}

// solveFile runs `hrmd solve file args...`, which must succeed, and returns
// its answer file.
func solveFile(t *testing.T, file string, args ...string) puzzles.AnswerFile {
	t.Helper()
	r := runHrmd(t, append([]string{"solve", file}, args...)...)
	if r.Code != 0 {
		t.Fatalf("solve %s: exit %d, stderr %q", file, r.Code, r.Stderr)
	}
	var a puzzles.AnswerFile
	if err := json.Unmarshal([]byte(r.Stdout), &a); err != nil {
		t.Fatal(err)
	}
	return a
}
