//go:build cgo

package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// childTensorRT tells this test binary, run again by TestLoadedTensorRT
// with a TensorRT stand-in preloaded, to print the version it reads.
const childTensorRT = "HRMD_TEST_READ_LOADED_TENSORRT"

// The version is read from the TensorRT library loaded in the process, by
// its own functions: a stand-in libnvinfer built here with the C compiler,
// exporting what TensorRT 10 exports (and a TensorRT 8 one, only
// getInferLibVersion), is loaded into a child of this test binary before
// it starts, as onnxruntime's TensorRT provider loads libnvinfer.so.N as
// its dependency (cgo has no place in a test file, so the test cannot
// dlopen it itself). The child reads its own /proc/self/maps.
func TestLoadedTensorRT(t *testing.T) {
	if os.Getenv(childTensorRT) != "" {
		v, err := loadedTensorRT("/")
		fmt.Printf("loaded TensorRT: %q, %v\n", v, err)
		return
	}
	if _, err := loadedTensorRT("/"); !errors.Is(err, errNoTensorRT) {
		t.Errorf("this process, without TensorRT: %v", err)
	}
	for _, tt := range []struct {
		name, file, source, want string
	}{
		{"TensorRT 10", "libnvinfer.so.10.3.0", `
int32_t getInferLibVersion(void) { return 100300; }
int32_t getInferLibMajorVersion(void) { return 10; }
int32_t getInferLibMinorVersion(void) { return 3; }
int32_t getInferLibPatchVersion(void) { return 0; }
int32_t getInferLibBuildVersion(void) { return 30; }
`, `"10.3.0.30", <nil>`},
		{"TensorRT 8", "libnvinfer.so.8.6.2", `
int32_t getInferLibVersion(void) { return 8602; }
`, `"8.6.2", <nil>`},
		{"no version", "libnvinfer.so.10.3.0", `
int32_t somethingElse(void) { return 1; }
`, `it exports neither getInferLibBuildVersion nor getInferLibVersion`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			soname := strings.Join(strings.SplitN(tt.file, ".", 4)[:3], ".") // libnvinfer.so.10
			link := buildStandIn(t, tt.file, soname, "#include <stdint.h>\n"+tt.source)
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoadedTensorRT$", "-test.count=1")
			cmd.Env = append(os.Environ(), childTensorRT+"=1", "LD_PRELOAD="+link)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the child: %v\n%s", err, out)
			}
			line := ""
			for l := range strings.Lines(string(out)) {
				if s, ok := strings.CutPrefix(l, "loaded TensorRT: "); ok {
					line = strings.TrimSpace(s)
				}
			}
			if !strings.Contains(line, tt.want) {
				t.Errorf("the child read %s, want %s\n%s", line, tt.want, out)
			}
		})
	}
}

// buildStandIn compiles source into a shared library named file with the
// soname given, and returns the soname's link to it, as TensorRT installs
// it: the process maps the file (libnvinfer.so.10.3.0), loaded by the
// soname (libnvinfer.so.10).
func buildStandIn(t *testing.T, file, soname, source string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "nvinfer.c")
	if err := os.WriteFile(src, []byte(source), 0o644); err != nil {
		t.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc" // what cgo builds with
	}
	out, err := exec.Command(cc, "-shared", "-fPIC", "-Wl,-soname,"+soname, "-o", filepath.Join(dir, file), src).
		CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	link := filepath.Join(dir, soname)
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	return link
}
