package jetson

import (
	"bytes"
	"regexp"
	"slices"
)

// l4tLine matches the first line of /etc/nv_tegra_release,
// "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, ...".
var l4tLine = regexp.MustCompile(`^#\s*R(\d+)\s*\([^)]*\),\s*REVISION:\s*(\d+)(?:\.(\d+))?`)

// parseL4T turns nv_tegra_release into the release NVIDIA names it by,
// "36.3.0": major from "R36", minor and patch from "REVISION: 3.0". Anything
// else gives "", as an unrecognised release is better unknown than guessed.
func parseL4T(release []byte) string {
	first, _, _ := bytes.Cut(release, []byte("\n"))
	m := l4tLine.FindSubmatch(first)
	if m == nil {
		return ""
	}
	// "REVISION: 4" is 4.0, and "03" is 3: NVIDIA's names have neither.
	part := func(b []byte) string {
		if b = bytes.TrimLeft(b, "0"); len(b) == 0 {
			return "0"
		}
		return string(b)
	}
	return part(m[1]) + "." + part(m[2]) + "." + part(m[3])
}

// jetPack is the JetPack release that shipped a Jetson Linux release, from
// NVIDIA's JetPack archive. Exact releases only: the minor version does not
// follow a rule (L4T 35.1 was JetPack 5.0.2, 35.2.1 was 5.1), so a release
// missing here gives "" rather than a guess.
func jetPack(l4t string) string {
	switch l4t {
	case "32.6.1":
		return "4.6"
	case "32.7.1":
		return "4.6.1"
	case "32.7.2":
		return "4.6.2"
	case "32.7.3":
		return "4.6.3"
	case "32.7.4":
		return "4.6.4"
	case "32.7.5":
		return "4.6.5"
	case "32.7.6":
		return "4.6.6"
	case "35.1.0":
		return "5.0.2"
	case "35.2.1":
		return "5.1"
	case "35.3.1":
		return "5.1.1"
	case "35.4.1":
		return "5.1.2"
	case "35.5.0":
		return "5.1.3"
	case "35.6.0":
		return "5.1.4"
	case "35.6.1":
		return "5.1.5"
	case "36.2.0":
		return "6.0 DP"
	case "36.3.0":
		return "6.0"
	case "36.4.0":
		return "6.1"
	case "36.4.3":
		return "6.2"
	case "36.4.4":
		return "6.2.1"
	}
	return ""
}

// CompareL4T orders two L4T releases by their numbers ("36.3.0" < "36.4" <
// "36.4.3"; a missing part counts as 0). A release that is not dotted
// numbers sorts before every other, as an unknown one should not pass a
// check for a newer release.
func CompareL4T(a, b string) int {
	va, okA := parseVersion(a)
	vb, okB := parseVersion(b)
	if !okA || !okB {
		return boolCompare(okA, okB)
	}
	for len(va) < len(vb) {
		va = append(va, 0)
	}
	for len(vb) < len(va) {
		vb = append(vb, 0)
	}
	return slices.Compare(va, vb)
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// GPUStack is the CUDA and TensorRT that JetPack 6 installs with an L4T
// release, from NVIDIA's JetPack 6.0, 6.1 and 6.2 release notes: JetPack
// 6.0 (L4T 36.2 and 36.3) has CUDA 12.2 and TensorRT 8.6, JetPack 6.1 and
// 6.2 (L4T 36.4 on; the later updates of L4T 36 keep TensorRT 10.3) CUDA
// 12.6 and TensorRT 10.3. An onnxruntime with the TensorRT provider is
// built against one of these pairs. Other releases give "", "".
func GPUStack(l4t string) (cuda, tensorRT string) {
	switch {
	case CompareL4T(l4t, "36.2") >= 0 && CompareL4T(l4t, "36.4") < 0:
		return "12.2", "8.6"
	case CompareL4T(l4t, "36.4") >= 0 && CompareL4T(l4t, "37") < 0:
		return "12.6", "10.3"
	}
	return "", ""
}
