package repocheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines is a screen: a function longer than that becomes a type
// with methods, each one step.
const maxFuncLines = 80

// longFuncs lists the functions of the Go files below root (tests aside)
// that are longer than maxFuncLines, as file:line name (lines).
func longFuncs(root string) ([]string, error) {
	var long []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			if n := end.Line - start.Line + 1; n > maxFuncLines {
				rel, _ := filepath.Rel(root, path)
				long = append(long, fmt.Sprintf("%s:%d %s (%d lines)", rel, start.Line, fn.Name.Name, n))
			}
		}
		return nil
	})
	return long, err
}

func TestNoFunctionLongerThanAScreen(t *testing.T) {
	long, err := longFuncs(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range long {
		t.Errorf("%s: longer than %d lines; make it a type with methods, each one step", f, maxFuncLines)
	}
}

// The check sees a long function, and only outside tests.
func TestLongFuncs(t *testing.T) {
	root := t.TempDir()
	body := "package p\n\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n\nfunc short() {}\n"
	for name, data := range map[string]string{"p/p.go": body, "p/p_test.go": body} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long, err := longFuncs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(long) != 1 || !strings.HasPrefix(long[0], "p/p.go:3 long (82 lines)") {
		t.Errorf("longFuncs = %v, want only p/p.go's long", long)
	}
}
