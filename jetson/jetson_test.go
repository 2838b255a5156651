package jetson

import (
	"slices"
	"testing"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		root string
		want Device
	}{
		{"testdata/orin-nano", Device{Jetson: true, Model: "NVIDIA Jetson Orin Nano Developer Kit",
			Compatible: []string{"nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"}}},
		{"testdata/x86-host", Device{Model: "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"}},
		{"testdata/empty", Device{}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			got, err := NewFS(tt.root).Probe()
			if err != nil {
				t.Fatal(err)
			}
			if got.Jetson != tt.want.Jetson || got.Model != tt.want.Model || !slices.Equal(got.Compatible, tt.want.Compatible) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// On this machine the real root must probe without error.
func TestProbeRealRoot(t *testing.T) {
	if _, err := NewFS("/").Probe(); err != nil {
		t.Fatal(err)
	}
}
