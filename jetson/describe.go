package jetson

import (
	"fmt"
	"strings"
)

// String is the device in one line, for logs and answers' runtime.device:
// "NVIDIA Jetson Orin Nano Developer Kit (JetPack 6.0, L4T 36.3.0, power mode
// 15W, 7.4 GiB unified memory)". What is unknown is left out.
func (d Device) String() string {
	name := d.Model
	if name == "" {
		name = "unknown device"
		if d.Jetson {
			name = "unknown Jetson"
		}
	}
	var parts []string
	if !d.Jetson {
		parts = append(parts, "not a Jetson")
	}
	if d.JetPack != "" {
		parts = append(parts, "JetPack "+d.JetPack)
	}
	if d.L4T != "" {
		parts = append(parts, "L4T "+d.L4T)
	}
	if d.PowerMode != "" {
		parts = append(parts, "power mode "+d.PowerMode)
	}
	if d.GPU != "" {
		parts = append(parts, "GPU "+d.GPU)
	}
	if d.TensorRT != "" {
		parts = append(parts, "TensorRT "+d.TensorRT)
	}
	if d.Memory.Total > 0 {
		kind := "memory"
		if d.Memory.Unified {
			kind = "unified memory"
		}
		parts = append(parts, fmt.Sprintf("%.1f GiB %s", float64(d.Memory.Total)/(1<<30), kind))
	}
	if len(parts) == 0 {
		return name
	}
	return name + " (" + strings.Join(parts, ", ") + ")"
}

// maxCacheKey keeps the key usable as one path element anywhere.
const maxCacheKey = 64

// CacheKey names the device for caches of built TensorRT engines, which are
// only valid on the GPU they were built on. On a Jetson: the SoC
// ("tegra234"), the module (an Orin Nano and an AGX Orin share the SoC but
// not the GPU's size) and the L4T release: "tegra234-p3767-0005-l4t36.3.0".
// Elsewhere the discrete GPU's model, else the CPU's: "tesla-t4". The
// TensorRT release is not in it: the engine cache names the TensorRT
// library hrmd has loaded, with its build number (engine.EngineCacheKey),
// not the newest one installed. Only [a-z0-9.-], at most 64 characters
// (the release is kept whole; the name part is shortened), never empty.
func (d Device) CacheKey() string {
	var name, suffix string
	if d.Jetson {
		name = slug(d.soc(), false)
		if m := slug(d.module(), false); name != "" && m != "" {
			name += "-" + m
		}
		if name == "" {
			name = slug(d.Model, false)
		}
		if name == "" {
			name = "jetson"
		}
		if l4t := slug(d.L4T, true); l4t != "" {
			suffix += "-l4t" + l4t
		}
	} else {
		name = slug(d.GPU, false)
		if name == "" {
			name = slug(d.Model, false)
		}
	}
	if name == "" {
		name = "unknown"
	}
	if len(suffix) > maxCacheKey/2 {
		suffix = suffix[:maxCacheKey/2]
	}
	if room := maxCacheKey - len(suffix); len(name) > room {
		name = strings.TrimRight(name[:room], "-.")
	}
	return name + suffix
}

// soc is the SoC's compatible string without the vendor, "tegra234". The
// device tree lists it after the board and module, so the first "tegra" entry
// is the most specific SoC one.
func (d Device) soc() string {
	for _, c := range d.Compatible {
		if s, ok := strings.CutPrefix(c, "nvidia,"); ok && strings.HasPrefix(s, "tegra") {
			return s
		}
	}
	return ""
}

// module is the module's part number, "p3767-0005": the compatible entry
// of the form nvidia,pNNNN-NNNN (the carrier board's entry joins two with "+").
func (d Device) module() string {
	for _, c := range d.Compatible {
		if s, ok := strings.CutPrefix(c, "nvidia,p"); ok && !strings.Contains(s, "+") {
			return "p" + s
		}
	}
	return ""
}

// slug lowercases s and turns every run of other characters into one "-".
// Dots survive only where asked: in a release ("36.3.0") they carry meaning,
// in a CPU name ("2.50GHz") they are just punctuation.
func slug(s string, keepDots bool) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || keepDots && r == '.' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}
