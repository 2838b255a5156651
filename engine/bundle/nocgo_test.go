package bundle

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The package and everything it imports build without cgo: the doctor, eval
// and the tools read a bundle on a host without ONNX Runtime or a C
// compiler. With cgo on, no package below it has a cgo file (the standard
// library aside, whose cgo is optional) and neither engine nor
// onnxruntime_go is among them; with cgo off, every one of them builds.
func TestNoCgo(t *testing.T) {
	for _, cgo := range []string{"1", "0"} {
		list := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", ".")
		list.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		out, err := list.CombinedOutput()
		if err != nil {
			t.Fatalf("CGO_ENABLED=%s go list -deps: %v\n%s", cgo, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var path, std, cgoFiles string
			if f := strings.Fields(line); len(f) == 3 {
				path, std, cgoFiles = f[0], f[1], f[2]
			}
			switch {
			case path == "runtime/cgo", strings.Contains(path, "onnxruntime_go"), path == "github.com/hrmd/hrmd/engine":
				t.Errorf("CGO_ENABLED=%s: engine/bundle depends on %s", cgo, path)
			case std == "false" && cgoFiles != "0":
				t.Errorf("CGO_ENABLED=%s: engine/bundle depends on %s, which has %s cgo files", cgo, path, cgoFiles)
			}
		}
	}
}
