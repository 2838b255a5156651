//go:build cgo

package engine

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// The first two members of onnxruntime's OrtApiBase, the one struct whose
// layout every onnxruntime release keeps.
typedef struct {
	const void *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} hrmd_api_base;

typedef const hrmd_api_base *(*hrmd_get_api_base)(void);

// hrmd_probe loads the library and reports its version and whether it offers
// the C API version asked for. stage says how far it got: 0 dlopen failed,
// 1 no OrtGetApiBase, 2 loaded. The library stays loaded on success (the
// Go wrapper opens it again next), and is closed on failure.
static int hrmd_probe(const char *path, uint32_t api, const char **version, const char **err) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*err = dlerror();
		return 0;
	}
	hrmd_get_api_base get = (hrmd_get_api_base)dlsym(h, "OrtGetApiBase");
	if (!get) {
		*err = dlerror();
		dlclose(h);
		return 1;
	}
	const hrmd_api_base *base = get();
	*version = base->GetVersionString();
	if (!base->GetApi(api)) {
		*err = "the library does not offer the C API version asked for";
	}
	return 2;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// ortAPIVersion is the C API version onnxruntime_go v1.27.0 is built against.
const ortAPIVersion = 24

// probeLibrary loads the library at path and checks it is an onnxruntime new
// enough for hrmd, so that failures get one clear error instead of the
// wrapper's "Error setting ORT API base: 2".
func probeLibrary(path string) (version string, err error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cversion, cerr *C.char
	switch C.hrmd_probe(cpath, ortAPIVersion, &cversion, &cerr) {
	case 0:
		return "", errorf(
			CodeORTUnloadable,
			"cannot load %s: %s; is it a libonnxruntime.so for this machine (%s)? ./build.sh deps fetches one",
			path,
			C.GoString(cerr),
			hostArch(),
		)
	case 1:
		return "", errorf(
			CodeORTUnloadable,
			"%s is not an onnxruntime library (no OrtGetApiBase): %s",
			path,
			C.GoString(cerr),
		)
	}
	version = C.GoString(cversion)
	if err := checkVersion(path, version); err != nil {
		return version, err
	}
	if cerr != nil {
		return version, errorf(
			CodeORTTooOld,
			"%s (onnxruntime %s) does not offer C API %d; hrmd needs onnxruntime %s or newer",
			path,
			version,
			ortAPIVersion,
			MinORTVersion,
		)
	}
	return version, nil
}

func hostArch() string { return fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH) }
