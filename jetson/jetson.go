// Package jetson describes the device hrmd runs on, read from a root folder
// the caller chooses ("/" in production, a fixture tree in tests).
package jetson

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// FS reads device facts below a root folder.
type FS struct{ root string }

// NewFS returns an FS rooted at root.
func NewFS(root string) FS { return FS{root: root} }

// Device is what hrmd reports as runtime.device.
type Device struct {
	Jetson      bool
	Model       string   // "NVIDIA Jetson Orin Nano Developer Kit", or the CPU's model name
	Compatible  []string // device-tree compatible strings, most specific first
	L4T         string   // Jetson Linux release, "36.3.0"; "" if absent
	JetPack     string   // "6.0"; "" when the L4T release is not in the table
	PowerMode   string   // nvpmodel mode name, "15W" or "MAXN"; "" if unknown
	PowerModeID int      // -1 if unknown
	Memory      Memory
	GPU         string // a discrete NVIDIA GPU's model, "Tesla T4"; "" on a Jetson (the SoC's) or without one
	TensorRT    string // the newest libnvinfer installed, "10.3.0"; "" if none
}

// Memory is the RAM the kernel reports in /proc/meminfo.
type Memory struct {
	Total, Available uint64 // bytes
	Unified          bool   // CPU and GPU share it, as on every Jetson
}

// maxRead bounds reads of /proc and device-tree files: one small read, as
// some drivers answer a read loop forever.
const maxRead = 64 << 10

// readSmall reads at most maxRead bytes in one read. An empty file is empty
// content, not an error.
func readSmall(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, readError(name, err)
	}
	defer f.Close()
	// sysfs says 4096 and procfs 0 for every file: trust a size the file
	// gives, so that polling thermal zones does not allocate 64 KiB a read.
	size := maxRead
	if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() < maxRead {
		size = int(st.Size()) + 1
	}
	buf := make([]byte, size)
	n, err := f.Read(buf)
	if n == 0 && err != nil && err != io.EOF {
		return nil, readError(name, err)
	}
	return buf[:n], nil
}

// readError names the path once: an *fs.PathError already carries it, and
// "read X: open X: ..." says it twice. errors.Is still sees the errno.
func readError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("read %s: %w", name, err)
}

// maxLinks is the kernel's own limit on symbolic links in one lookup.
const maxLinks = 40

// resolve maps rel, a path as the device sees it, to a path below the root,
// following symbolic links the way the device would: an absolute target
// starts again at the root, not at this machine's "/", and ".." stops at the
// root. With root "/" that is what the kernel does anyway; in a fixture tree,
// or a device's root mounted elsewhere, it keeps links such as
// /etc/nvpmodel.conf -> /etc/nvpmodel/nvpmodel_p3767_0003.conf inside the
// tree instead of reading this machine's files.
func (f FS) resolve(rel string) string {
	todo := strings.Split(rel, "/")
	var done []string
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		done = append(done, c)
		target, err := os.Readlink(filepath.Join(f.root, filepath.Join(done...)))
		if err != nil {
			// Not a link, or not there: the read that follows says which.
			continue
		}
		if links++; links > maxLinks {
			// A loop: hand the OS the rest, and its ELOOP, unresolved.
			done = append(done, todo...)
			break
		}
		done = done[:len(done)-1]
		if strings.HasPrefix(target, "/") {
			done = done[:0]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	// Cleaned as an absolute path, so that what a link loop left unresolved
	// cannot climb above the root either.
	return filepath.Join(f.root, path.Clean("/"+strings.Join(done, "/")))
}

// read is readSmall below the root. A missing file is no error: most facts
// are simply absent on hosts that are not Jetsons.
func (f FS) read(rel string) ([]byte, error) {
	b, err := readSmall(f.resolve(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Probe identifies the device. Missing files are not errors: a host without
// a device tree is simply not a Jetson. A file that is there but cannot be
// read is: Probe then still reads every other fact, and returns the Device
// it could fill in together with all the errors.
func (f FS) Probe() (Device, error) {
	d := Device{PowerModeID: -1}
	var errs []error
	read := func(rel string) []byte {
		b, err := f.read(rel)
		if err != nil {
			errs = append(errs, err)
		}
		return b
	}

	d.Model = strings.TrimSpace(string(bytes.TrimRight(read("proc/device-tree/model"), "\x00")))
	d.Compatible = parseCompatible(read("proc/device-tree/compatible"))
	for _, c := range d.Compatible {
		if strings.HasPrefix(c, "nvidia,tegra") || strings.HasPrefix(c, "nvidia,p3") {
			d.Jetson = true
		}
	}
	if strings.Contains(d.Model, "Jetson") {
		d.Jetson = true
	}
	if !d.Jetson {
		if name := cpuModelName(read("proc/cpuinfo")); name != "" {
			d.Model = name
		}
	}

	d.L4T = parseL4T(read("etc/nv_tegra_release"))
	d.JetPack = jetPack(d.L4T)

	if id, ok := parsePowerModeID(read("var/lib/nvpmodel/status")); ok {
		d.PowerModeID = id
		d.PowerMode = powerModeName(read("etc/nvpmodel.conf"), id)
	}

	d.Memory = parseMeminfo(read("proc/meminfo"))
	d.Memory.Unified = d.Jetson
	if !d.Jetson {
		d.GPU = f.discreteGPU()
	}
	d.TensorRT = f.tensorRTVersion()
	return d, errors.Join(errs...)
}

// parseCompatible splits the device tree's NUL-separated compatible list.
func parseCompatible(b []byte) []string {
	var out []string
	for _, s := range bytes.Split(b, []byte{0}) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

// cpuModelName is the first "model name" in /proc/cpuinfo.
func cpuModelName(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// parseMeminfo reads MemTotal and MemAvailable. Kernels before 3.14 have no
// MemAvailable; it then stays 0 rather than being guessed.
func parseMeminfo(meminfo []byte) Memory {
	var m Memory
	m.Total, _, _ = meminfoValue(meminfo, "MemTotal")
	m.Available, _, _ = meminfoValue(meminfo, "MemAvailable")
	return m
}

// meminfoValue is one /proc/meminfo field in bytes (the kernel writes kB);
// found is false when the field is not there, err set when it is but is
// not a number.
func meminfoValue(meminfo []byte, key string) (n uint64, found bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != key+":" {
			continue
		}
		n, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return 0, true, fmt.Errorf("%s: %w", key, err)
		}
		if len(fields) > 2 && fields[2] == "kB" {
			n *= 1024
		}
		return n, true, nil
	}
	return 0, false, nil
}

// MemAvailable is MemAvailable in <root>/proc/meminfo, in bytes: what the
// kernel can still give a process without swapping, page cache included.
// On a Jetson the GPU's memory comes from the same pool, so this is what a
// TensorRT engine build can have. Unlike Probe, a missing file or field is
// an error: the caller is about to decide whether a build fits, and a
// guess of 0 would refuse every build.
func (f FS) MemAvailable() (int64, error) {
	name := f.resolve("proc/meminfo")
	b, err := readSmall(name)
	if err != nil {
		return 0, err
	}
	n, found, err := meminfoValue(b, "MemAvailable")
	switch {
	case err != nil:
		return 0, fmt.Errorf("parse %s: %w", name, err)
	case !found:
		return 0, fmt.Errorf("%s has no MemAvailable line (a kernel before 3.14?)", name)
	case n > math.MaxInt64:
		return 0, fmt.Errorf("parse %s: MemAvailable %d bytes is out of range", name, n)
	}
	return int64(n), nil
}
