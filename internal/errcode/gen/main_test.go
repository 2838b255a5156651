package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// codes_gen.go and the tables of docs/answers.md are what codes.yaml makes
// of them: a code added to one and not the others fails here.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	t.Chdir("..") // where go generate runs it
	groups, err := readTable(tablePath)
	if err != nil {
		t.Fatal(err)
	}
	src, err := goSource(groups)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	wantDocs, err := withTables(docs, groups)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{{goPath, src}, {docsPath, wantDocs}} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is not what %s makes of it: run go generate ./internal/errcode", f.path, tablePath)
		}
	}
}

// A table with a code twice, a malformed code or a group without an exit
// status of 0, 1 or 2 is refused, naming it.
func TestReadTableRefuses(t *testing.T) {
	for _, tt := range []struct{ yaml, err string }{
		{"- {title: a, exit: 1, codes: [{code: x_y, name: XY, doc: d}, {code: x_y, name: XY2, doc: d}]}",
			`"x_y" or "XY2" is in the table twice`},
		{"- {title: a, exit: 1, codes: [{code: X, name: X, doc: d}]}", `code "X" (name "X"): a code is lower_case`},
		{"- {title: a, exit: 3, codes: [{code: x, name: X, doc: d}]}", `group "a": give it a title, codes and exit 0`},
		{"- {title: a, exit: 1, codes: [{code: x, name: X, doc: d, exit: 2}]}", "field exit not found"},
	} {
		path := t.TempDir() + "/codes.yaml"
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readTable(path); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want %q", tt.yaml, err, tt.err)
		}
	}
}
