package engine

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The TensorRT library mapped into the process is found among its
// siblings, wherever it was installed, and whatever became of its file.
func TestMappedTensorRT(t *testing.T) {
	for _, tt := range []struct {
		root, want, err string
	}{
		{"jetpack-6.2", "/usr/lib/aarch64-linux-gnu/libnvinfer.so.10.3.0", ""},
		{"jetson-containers", "/usr/local/cuda/targets/aarch64-linux/lib/libnvinfer.so.10.3.0", ""},
		{"jetpack-6.0", "/usr/lib/aarch64-linux-gnu/libnvinfer.so.8.6.2", ""},
		{"upgraded", "/usr/lib/aarch64-linux-gnu/libnvinfer.so.10.3.0", ""},
		{"two", "", "2 TensorRT libraries are loaded in this process (/usr/lib/aarch64-linux-gnu/libnvinfer.so.10.3.0, " +
			"/opt/TensorRT-10.7.0.23/lib/libnvinfer.so.10.7.0)"},
		{"cpu-only", "", errNoTensorRT.Error()},
		{"absent", "", "find the loaded TensorRT: open testdata/proc/absent/proc/self/maps: no such file or directory"},
	} {
		t.Run(tt.root, func(t *testing.T) {
			got, err := mappedTensorRT(filepath.Join("testdata/proc", tt.root))
			if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("got %q, %v; want %q, %q", got, err, tt.want, tt.err)
			}
		})
	}
	if _, err := mappedTensorRT("testdata/proc/cpu-only"); !errors.Is(err, errNoTensorRT) {
		t.Errorf("no TensorRT: %v", err)
	}
}

func TestMappedPath(t *testing.T) {
	for line, want := range map[string]string{
		"ffff6a1c0000-ffff6e0a5000 r-xp 00000000 103:02 1843251                   " +
			"/usr/lib/libnvinfer.so.10.3.0": "/usr/lib/libnvinfer.so.10.3.0",
		"ffff6a1c0000-ffff6e0a5000 r-xp 00000000 103:02 1843251 /opt/my libs/libnvinfer.so.10.3.0 " +
			"(deleted)": "/opt/my libs/libnvinfer.so.10.3.0",
		"ffffc7a9e000-ffffc7abf000 rw-p 00000000 00:00 0                          [stack]": "",
		"ffff5c000000-ffff5c021000 rw-p 00000000 00:00 0 ":                                 "",
		"ffff5c000000-ffff5c021000 rw-p 00000000 00:00 0":                                  "",
		"": "",
	} {
		if got := mappedPath(line); got != want {
			t.Errorf("mappedPath(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestNvinferSOVersion(t *testing.T) {
	for base, want := range map[string][]int{
		"libnvinfer.so.10.3.0":                   {10, 3, 0},
		"libnvinfer.so.10":                       {10},
		"libnvinfer.so.8.6.2.3":                  {8, 6, 2, 3},
		"libnvinfer.so":                          nil,
		"libnvinfer_plugin.so.10.3.0":            nil,
		"libnvinfer_builder_resource.so.10.3.0":  nil,
		"libnvinfer.so.10.3.0.bak":               nil,
		"libnvinfer_lean.so.10":                  nil,
		"libnvinfer.so.10.3.0 (deleted)":         nil,
		"libonnxruntime_providers_tensorrt.so.1": nil,
	} {
		got, ok := nvinferSOVersion(base)
		if !slices.Equal(got, want) || ok != (want != nil) {
			t.Errorf("nvinferSOVersion(%q) = %v, %v; want %v", base, got, ok, want)
		}
	}
}

// getInferLibVersion's number is read by the file name's major: TensorRT 8
// and 10 encode it differently, and neither has the build number.
func TestDecodeInferLibVersion(t *testing.T) {
	for _, tt := range []struct {
		n    int32
		file []int
		want string
		err  string
	}{
		{8602, []int{8, 6, 2}, "8.6.2", ""},
		{8602, []int{8}, "8.6.2", ""},
		{8602, []int{8, 6, 2, 3}, "8.6.2.3", ""},
		{100300, []int{10, 3, 0}, "10.3.0", ""},
		{100300, []int{10, 3, 0, 30}, "10.3.0.30", ""},
		{101100, []int{10}, "10.11.0", ""},
		// A fourth figure of another release is not this one's build.
		{100300, []int{10, 7, 0, 23}, "10.3.0", ""},
		{100300, []int{8, 6, 2}, "", "getInferLibVersion() is 100300, which is no version 8"},
		{8602, nil, "", "the library's file name has no version"},
	} {
		got, err := decodeInferLibVersion(tt.n, tt.file)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) ||
			(err == nil && got.String() != tt.want) {
			t.Errorf("decodeInferLibVersion(%d, %v) = %s, %v; want %q, %q", tt.n, tt.file, got, err, tt.want, tt.err)
		}
	}
}
