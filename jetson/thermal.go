package jetson

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Thermal is one kernel thermal zone.
type Thermal struct {
	Zone    string  // "thermal_zone1"
	Type    string  // the zone's type file, "gpu-thermal", "CPU-therm"
	Celsius float64 // the temp file is in millidegrees
}

// offline is what Orin's BPMP reports for a sensor that is powered off: the
// CV zones on boards without DLA/PVA clocks running, the GPU zone while the
// GPU is rail-gated (tegrastats prints it as "CV0@-256C"). It is no reading.
const offline = -256000

// Thermals reads sys/class/thermal/thermal_zone*/{type,temp}, sorted by zone
// number. A zone whose sensor does not answer (disabled zones fail the read
// with EINVAL or ENODATA on real boards), answers garbage or reports itself
// offline is left out: that is the sensor's state, not a fault here. Any
// other failure to read a zone (permission denied, say) is returned as an
// error, together with the zones that could be read. No sys/class/thermal
// at all gives nil, nil.
func (f FS) Thermals() ([]Thermal, error) {
	dir := f.resolve("sys/class/thermal")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, readError(dir, err)
	}
	type zone struct {
		n    int
		name string
	}
	var zones []zone
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), "thermal_zone")
		if !ok {
			continue // cooling_device0 and the like
		}
		if n, err := strconv.Atoi(digits); err == nil {
			zones = append(zones, zone{n, e.Name()})
		}
	}
	// ReadDir sorts by name, which puts thermal_zone10 before thermal_zone2.
	slices.SortFunc(zones, func(a, b zone) int { return a.n - b.n })

	var out []Thermal
	var errs []error
	for _, z := range zones {
		rel := path.Join("sys/class/thermal", z.name)
		temp, err := readSmall(f.resolve(rel + "/temp"))
		if err != nil {
			if !sensorSilent(err) {
				errs = append(errs, err)
			}
			continue
		}
		milli, err := strconv.ParseInt(strings.TrimSpace(string(temp)), 10, 64)
		if err != nil || milli <= offline {
			continue
		}
		typ, err := f.read(rel + "/type")
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, Thermal{
			Zone:    z.name,
			Type:    strings.TrimSpace(string(typ)),
			Celsius: float64(milli) / 1000,
		})
	}
	return out, errors.Join(errs...)
}

// sensorSilent tells the ways a thermal zone's driver refuses a reading
// (the zone is there, the sensor is off or not ready) from failures to
// reach the file at all, which are worth reporting.
func sensorSilent(err error) bool {
	for _, e := range []error{fs.ErrNotExist, syscall.EINVAL, syscall.ENODATA,
		syscall.EAGAIN, syscall.EIO, syscall.ENXIO, syscall.ENODEV, syscall.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
