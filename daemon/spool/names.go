package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AnswerName is the outbox file that answers job: <name>.json.
func AnswerName(job string) string { return strings.TrimSuffix(job, ".json") + ".json" }

// PictureName is a job's picture in the outbox (answers.png): <name>.png.
func PictureName(job string) string { return strings.TrimSuffix(job, ".json") + ".png" }

// ErrorName is the error record of a job's input in failed/.
func ErrorName(job string) string { return job + ".error.json" }

// jobName is the n-th candidate name for a file dropped as name: the name
// itself, then <stem>.1.json, <stem>.2.json, ...
func jobName(name string, n int) string {
	if n == 0 {
		return name
	}
	if stem, ok := strings.CutSuffix(name, ".json"); ok {
		return stem + "." + strconv.Itoa(n) + ".json"
	}
	return name + "." + strconv.Itoa(n)
}

// nextFree is the first candidate from on that taken says is free, or one
// free candidate among the later ones: it gallops (from+1, +2, +4 ...) to a
// free one, then halves the gap to the last taken one. Any free name does,
// since the create that follows never replaces; so a name dropped for the
// 100,000th time costs some 35 looks, not 100,000.
func nextFree(from int, taken func(n int) bool) int {
	if !taken(from) {
		return from
	}
	lo, hi := from, from+1
	for step := 1; taken(hi); step *= 2 {
		lo, hi = hi, from+2*step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if taken(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// MaxNameBytes is the longest inbox name hrmd takes as it is: the names it
// derives (failed/<name>.<n>.error.json) must fit the filesystem's 255
// bytes. A longer name goes straight to failed/ under a short one
// (shortName).
const MaxNameBytes = 255 - len(".error.json") - len(".9999999")

// shortName is the name a too-long name fails under: its start, and a hash
// of the whole, which keeps different long names apart.
func shortName(name string) string {
	cut := 200
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(name))
	return name[:cut] + "~" + hex.EncodeToString(sum[:4]) + ".name-too-long"
}

// Ignored reports the names a hot folder must never take: hidden files
// (including hrmd's own temporary files) and the partial files of writers
// that rename when done.
func Ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") ||
		strings.HasSuffix(name, ".part") || strings.HasSuffix(name, "~")
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
