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

// Picture draws a file's tasks and answers, one after the other, as one PNG
// (puzzles.AnswerPicture); a picture over maxPicturePixels is refused.
func Picture(file *puzzles.File, answers []puzzles.AnswerFile) ([]byte, error) {
	var rows [][]puzzles.Grid
	for i, task := range file.Tasks {
		rows = append(rows, puzzles.AnswerPicture(task, answers[i])...)
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
