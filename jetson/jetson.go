// Package jetson describes the device hrmd runs on, read from a root folder
// the caller chooses ("/" in production, a fixture tree in tests).
package jetson

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FS reads device facts below a root folder.
type FS struct{ root string }

// NewFS returns an FS rooted at root.
func NewFS(root string) FS { return FS{root: root} }

func (f FS) path(rel string) string { return filepath.Join(f.root, rel) }

// Device is what hrmd reports as runtime.device.
type Device struct {
	Jetson     bool
	Model      string   // "NVIDIA Jetson Orin Nano Developer Kit", or the CPU's model name
	Compatible []string // device-tree compatible strings, most specific first
}

// maxRead bounds reads of /proc and device-tree files: one small read, as
// some drivers answer a read loop forever.
const maxRead = 64 << 10

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxRead)
	n, err := f.Read(buf)
	if n == 0 && err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Probe identifies the device. Missing files are not errors: a host without
// a device tree is simply not a Jetson.
func (f FS) Probe() (Device, error) {
	var d Device
	model, err := readSmall(f.path("proc/device-tree/model"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d, err
	}
	d.Model = strings.TrimSpace(string(bytes.TrimRight(model, "\x00")))
	if compat, err := readSmall(f.path("proc/device-tree/compatible")); err == nil {
		d.Compatible = parseCompatible(compat)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return d, err
	}
	for _, c := range d.Compatible {
		if strings.HasPrefix(c, "nvidia,tegra") || strings.HasPrefix(c, "nvidia,p3") {
			d.Jetson = true
		}
	}
	if strings.Contains(d.Model, "Jetson") {
		d.Jetson = true
	}
	if !d.Jetson {
		cpuinfo, err := readSmall(f.path("proc/cpuinfo"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return d, err
		}
		if name := cpuModelName(cpuinfo); name != "" {
			d.Model = name
		}
	}
	return d, nil
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
