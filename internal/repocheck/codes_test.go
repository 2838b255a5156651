package repocheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// codeLiterals lists, in the Go files below root (tests aside), the error
// codes written as string literals rather than taken from package errcode:
// a constant named Code... or code..., or a Code: field, set to a string.
func codeLiterals(root string) ([]string, error) {
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		skip := strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" || rel == filepath.Join("internal", "errcode")
		if d.IsDir() && skip {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if name, lit := codeLiteral(n); lit != nil {
				found = append(found, fmt.Sprintf("%s:%d %s = %s", rel, fset.Position(lit.Pos()).Line, name, lit.Value))
			}
			return true
		})
		return nil
	})
	return found, err
}

// codeLiteral is the name and the string of a code constant or Code: field
// set to a string literal; nil if n is none.
func codeLiteral(n ast.Node) (string, *ast.BasicLit) {
	switch n := n.(type) {
	case *ast.ValueSpec:
		for i, name := range n.Names {
			if lit, ok := stringAt(n.Values, i); ok && isCodeName(name.Name) {
				return name.Name, lit
			}
		}
	case *ast.KeyValueExpr:
		key, ok := n.Key.(*ast.Ident)
		if lit, isLit := n.Value.(*ast.BasicLit); ok && isLit && key.Name == "Code" && lit.Kind == token.STRING {
			return "Code:", lit
		}
	}
	return "", nil
}

func stringAt(values []ast.Expr, i int) (*ast.BasicLit, bool) {
	if i >= len(values) {
		return nil, false
	}
	lit, ok := values[i].(*ast.BasicLit)
	return lit, ok && lit.Kind == token.STRING
}

// isCodeName: Code, CodeX..., codeX...
func isCodeName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Code")
	if !ok {
		rest, ok = strings.CutPrefix(name, "code")
	}
	return ok && (rest == "" && name == "Code" || rest != "" && unicode.IsUpper(rune(rest[0])))
}

// Every error code is a row of internal/errcode/codes.yaml, which gives it
// its exit status and its line in docs/answers.md; a code written as a
// string elsewhere would have neither.
func TestErrorCodesComeFromTheTable(t *testing.T) {
	found, err := codeLiterals(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s: add the code to internal/errcode/codes.yaml (go generate ./internal/errcode) and use its constant", f)
	}
}

// codeLiteral sees a code constant and a Code: field set to a string, and
// nothing else.
func TestCodeLiteral(t *testing.T) {
	src := `package p
const CodeX = "x"
const codeY, other = "y", "o"
const Codec = "not a code"
const CodeZ = errcode.Z
var e = Error{Code: "w", Message: "m"}
var f = Error{Code: errcode.W}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ast.Inspect(f, func(n ast.Node) bool {
		if name, lit := codeLiteral(n); lit != nil {
			got = append(got, name+lit.Value)
		}
		return true
	})
	if want := []string{`CodeX"x"`, `codeY"y"`, `Code:"w"`}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
