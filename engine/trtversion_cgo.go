//go:build cgo

package engine

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef int32_t (*hrmd_trt_figure)(void);

// hrmd_trt_version asks the TensorRT library name (a path or a soname) for
// its version, only if it is loaded already: RTLD_NOLOAD never loads one.
// It returns 4 with major, minor, patch and build in v (TensorRT 10 and
// later export getInferLibMajorVersion and its siblings), 1 with
// getInferLibVersion()'s encoded number in v[0] (8.x), 0 when the library
// is not loaded and -1 when it exports neither, with the reason in err.
static int hrmd_trt_version(const char *name, int32_t v[4], char *err, size_t errlen) {
	void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
	if (!h) {
		const char *e = dlerror();
		snprintf(err, errlen, "%s", e ? e : "not loaded");
		return 0;
	}
	static const char *const figures[4] = {
		"getInferLibMajorVersion", "getInferLibMinorVersion", "getInferLibPatchVersion", "getInferLibBuildVersion",
	};
	int n = 4;
	for (int i = 0; i < 4; i++) {
		hrmd_trt_figure f = (hrmd_trt_figure)dlsym(h, figures[i]);
		if (!f) {
			n = 0;
			break;
		}
		v[i] = f();
	}
	if (n == 0) {
		hrmd_trt_figure f = (hrmd_trt_figure)dlsym(h, "getInferLibVersion");
		if (f) {
			v[0] = f();
			n = 1;
		} else {
			snprintf(err, errlen, "it exports neither getInferLibBuildVersion nor getInferLibVersion");
			n = -1;
		}
	}
	dlclose(h);
	return n;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"unsafe"
)

// TensorRTVersion is the full version of the TensorRT library loaded in
// this process ("10.3.0.30"; "8.6.2" for TensorRT 8, which reports no
// build number). Only a TensorRT provider appended to a session loads it:
// after Providers, or a load that tried TensorRT.
func (rt *Runtime) TensorRTVersion() (string, error) {
	if rt.readTensorRT != nil {
		return rt.readTensorRT()
	}
	return loadedTensorRT("/")
}

// loadedTensorRT finds the TensorRT library mapped into this process (below
// root's proc, see mappedTensorRT) and asks it for its version. Asking the
// library, and not the newest file on disk, is what makes the version the
// one whose engines this process can load.
func loadedTensorRT(root string) (string, error) {
	path, err := mappedTensorRT(root)
	if err != nil {
		return "", err
	}
	file, _ := nvinferSOVersion(filepath.Base(path))
	// By its path first (the loader matches the file it mapped, the
	// soname's link resolved), then by its soname, for a library replaced
	// on disk since it was loaded.
	names := []string{path}
	if len(file) > 0 {
		names = append(names, "libnvinfer.so."+strconv.Itoa(file[0]))
	}
	var reasons []error
	for _, name := range names {
		v, err := askTensorRT(name, file)
		if err == nil {
			return v.String(), nil
		}
		reasons = append(reasons, err)
	}
	return "", fmt.Errorf("read the version of the loaded TensorRT %s: %w", path, errors.Join(reasons...))
}

// askTensorRT calls the loaded library name's version functions.
func askTensorRT(name string, file []int) (tensorRTRelease, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var v [4]C.int32_t
	var msg [256]C.char
	switch n := C.hrmd_trt_version(cname, &v[0], &msg[0], C.size_t(len(msg))); n {
	case 4:
		return tensorRTRelease{major: int(v[0]), minor: int(v[1]), patch: int(v[2]), build: int(v[3]), hasBuild: true}, nil
	case 1:
		return decodeInferLibVersion(int32(v[0]), file)
	default:
		return tensorRTRelease{}, fmt.Errorf("%s: %s", name, C.GoString(&msg[0]))
	}
}
