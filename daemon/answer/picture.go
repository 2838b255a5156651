package answer

import (
	"bytes"
	"fmt"

	"github.com/hrmd/hrmd/puzzles"
)

// maxPicturePixels bounds a picture: 16 Mpx is 64 MiB while it is drawn,
// which a 4 GB Jetson can spare; a challenges file with hundreds of tasks
// (and full traces) would need gigabytes.
const maxPicturePixels = 4096 * 4096

// maxCaptionID is the most characters of a task's ID drawn in its first
// caption: a challenges file's key may be of any length, and one long key
// would widen the whole picture.
const maxCaptionID = 24

// Picture draws a file's tasks and answers, one after the other, as one PNG
// (puzzles.AnswerPicture), the same picture for solve and the daemon; a
// picture over maxPicturePixels is refused. In a file of several tasks, each
// task's first caption starts with its ID, so that a person knows where one
// task ends and the next begins.
func Picture(file *puzzles.File, answers []puzzles.AnswerFile) ([]byte, error) {
	var rows [][]puzzles.Panel
	for i, task := range file.Tasks {
		drawn := puzzles.AnswerPicture(task, answers[i])
		if len(file.Tasks) > 1 && len(drawn) > 0 {
			drawn[0][0].Caption = captionID(task.ID) + ": " + drawn[0][0].Caption
		}
		rows = append(rows, drawn...)
	}
	if _, w, h := puzzles.Layout(rows); w*h > maxPicturePixels {
		return nil, fmt.Errorf(
			"the picture of %d task(s) would be %dx%d pixels, over the %d-pixel limit: draw fewer tasks (or no full trace)",
			len(file.Tasks),
			w,
			h,
			maxPicturePixels,
		)
	}
	var buf bytes.Buffer
	if err := puzzles.WritePNG(&buf, rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// captionID is a task's ID cut to maxCaptionID characters, "..." marking a cut.
func captionID(id string) string {
	if r := []rune(id); len(r) > maxCaptionID {
		return string(r[:maxCaptionID-3]) + "..."
	}
	return id
}
