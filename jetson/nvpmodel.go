package jetson

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// parsePowerModeID reads the mode nvpmodel last set from
// /var/lib/nvpmodel/status: "pmode:0001 fmode:quiet", or on older releases
// just "pmode:0001".
func parsePowerModeID(status []byte) (int, bool) {
	for _, field := range strings.Fields(string(status)) {
		key, value, _ := strings.Cut(field, ":")
		if key != "pmode" {
			continue
		}
		id, err := strconv.Atoi(value)
		if err != nil || id < 0 {
			return 0, false
		}
		return id, true
	}
	return 0, false
}

// powerModeName finds "< POWER_MODEL ID=1 NAME=7W >" in nvpmodel.conf. The
// files also carry the same tag commented out as documentation
// ("# < POWER_MODEL ID=id_num NAME=mode_name >"), which must not count.
func powerModeName(conf []byte, id int) string {
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		tag, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "<")
		if !ok {
			continue
		}
		if tag, ok = strings.CutSuffix(tag, ">"); !ok {
			continue
		}
		fields := strings.Fields(tag)
		if len(fields) == 0 || fields[0] != "POWER_MODEL" {
			continue
		}
		modeID, name := -1, ""
		for _, kv := range fields[1:] {
			key, value, _ := strings.Cut(kv, "=")
			switch key {
			case "ID":
				if n, err := strconv.Atoi(value); err == nil {
					modeID = n
				}
			case "NAME":
				name = value
			}
		}
		if modeID == id {
			return name
		}
	}
	return ""
}
