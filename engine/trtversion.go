package engine

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// tensorRTRelease is the version a TensorRT library reports of itself.
// The build number is what tells JetPack's 10.3.0.30 from jetson-containers'
// 10.3.0.26, whose engines cannot load in each other (TensorRT checks all
// four figures when it deserializes an engine); TensorRT 8.x does not
// report it.
type tensorRTRelease struct {
	major, minor, patch, build int
	hasBuild                   bool
}

func (v tensorRTRelease) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if v.hasBuild {
		s += "." + strconv.Itoa(v.build)
	}
	return s
}

// errNoTensorRT is a process without a TensorRT library: onnxruntime loads
// libnvinfer only with its TensorRT provider.
var errNoTensorRT = errors.New("no TensorRT library (libnvinfer.so.N) is loaded in this process")

// mappedTensorRT is the file of the TensorRT library (libnvinfer.so.N)
// mapped into this process, from root's proc/self/maps ("/" on a live
// system). The provider's library pulls it in as a dependency, so it is
// the one whose engines this process builds and loads, whatever else is
// installed. The path is the file the mapping was made from: the soname's
// link resolved ("libnvinfer.so.10.3.0"). A library replaced on disk since
// (an upgrade under a running hrmd) keeps its old path, without the
// kernel's " (deleted)".
func mappedTensorRT(root string) (string, error) {
	maps := filepath.Join(root, "proc/self/maps")
	f, err := os.Open(maps)
	if err != nil {
		return "", fmt.Errorf("find the loaded TensorRT: %w", err)
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		path := mappedPath(sc.Text())
		if _, ok := nvinferSOVersion(filepath.Base(path)); ok && !slices.Contains(found, path) {
			found = append(found, path)
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", maps, err)
	}
	switch len(found) {
	case 0:
		return "", errNoTensorRT
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf(
		"%d TensorRT libraries are loaded in this process (%s); which one builds the engines is unclear",
		len(found),
		strings.Join(found, ", "),
	)
}

// mappedPath is the file a line of /proc/PID/maps maps, "" for anonymous
// memory: "address perms offset dev inode path", the path padded with
// spaces and possibly holding spaces itself.
func mappedPath(line string) string {
	rest := line
	for range 5 {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			return ""
		}
		rest = rest[i:]
	}
	path := strings.TrimSuffix(strings.TrimLeft(rest, " "), " (deleted)")
	if !strings.HasPrefix(path, "/") {
		return "" // [heap], [stack], [vdso]
	}
	return path
}

// nvinferSOVersion is the version in a TensorRT library's file name,
// "libnvinfer.so.10.3.0" -> [10 3 0], and whether base is one. Its
// siblings (libnvinfer_plugin.so.10, libnvinfer_builder_resource.so.10.3.0)
// are not.
func nvinferSOVersion(base string) ([]int, bool) {
	rest, ok := strings.CutPrefix(base, "libnvinfer.so.")
	if !ok {
		return nil, false
	}
	var v []int
	for _, p := range strings.Split(rest, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// decodeInferLibVersion reads getInferLibVersion()'s number, which has no
// build number and two encodings: major*1000+minor*100+patch up to 8.x
// (8602 is 8.6.2, NvInferRuntimeBase.h), major*10000+minor*100+patch from
// 10.0 (100300 is 10.3.0, NvInferVersion.h). The file name's major says
// which, and its fourth figure, when it has one, is the build.
func decodeInferLibVersion(n int32, file []int) (tensorRTRelease, error) {
	if len(file) == 0 {
		return tensorRTRelease{}, fmt.Errorf(
			"getInferLibVersion() is %d, and the library's file name has no version to read it by",
			n,
		)
	}
	v := int(n)
	var r tensorRTRelease
	for _, c := range []tensorRTRelease{
		{major: v / 10000, minor: v / 100 % 100, patch: v % 100},
		{major: v / 1000, minor: v / 100 % 10, patch: v % 100},
	} {
		if c.major == file[0] {
			r = c
			break
		}
	}
	if r.major == 0 {
		return r, fmt.Errorf("getInferLibVersion() is %d, which is no version %d (the library's file name)", n, file[0])
	}
	if len(file) >= 4 && slices.Equal(file[:3], []int{r.major, r.minor, r.patch}) {
		r.build, r.hasBuild = file[3], true
	}
	return r, nil
}
