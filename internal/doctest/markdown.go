package doctest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Kind is how a block is held to the commands.
type Kind string

// The kinds of marker; None is a block without one.
const (
	None   Kind = ""
	Run    Kind = "run"
	Output Kind = "output"
	Skip   Kind = "skip"
)

// Marker is a block's `<!-- doctest: ... -->` line, read.
type Marker struct {
	Kind      Kind
	Command   string   // Output: the command whose output the block is; "" for the run block before
	Vary      []string // names of the values masked on both sides
	Part      bool     // the block is a contiguous part of the output
	Stderr    bool     // compare stderr, not stdout
	Exit      int      // the exit status the command must have
	CheckedBy string   // the package whose test checks the block
	Why       string   // Skip: the reason
}

// Block is one fenced code block of a Markdown page.
type Block struct {
	File   string // the page, as given to Blocks
	Line   int    // the line of the opening fence, from 1
	Lang   string // the fence's info word: sh, json, or ""
	Text   string // the lines between the fences, each ending in \n
	Marker Marker
}

// Where is the block's place for messages: file:line.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// NeedsMarker reports whether the block shows a command: an sh block, or one
// that opens with a `$ ` prompt.
func (b Block) NeedsMarker() bool {
	return b.Lang == "sh" || b.Lang == "bash" || strings.HasPrefix(b.Text, "$ ")
}

var (
	fence      = regexp.MustCompile("^(\\s*)(```+)\\s*([A-Za-z0-9_-]*)\\s*$")
	markerLine = regexp.MustCompile(`^\s*<!--\s*doctest:\s*(.*?)\s*-->\s*$`)
)

// Page is a Markdown page read: its fenced blocks, and its text outside them.
type Page struct {
	Blocks []Block
	Prose  string // every line outside the blocks and their markers
}

// ReadPage reads the Markdown page at path: its fenced blocks, each with the
// marker on the line before its fence, and the text around them. A marker
// that is not followed by a fence, or that cannot be read, is an error naming
// its line.
func ReadPage(path string) (Page, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Page{}, err
	}
	lines := strings.Split(string(data), "\n")
	var page Page
	var prose strings.Builder
	var pending *Marker
	pendingLine := 0
	for i := 0; i < len(lines); i++ {
		if m := markerLine.FindStringSubmatch(lines[i]); m != nil {
			mk, err := ParseMarker(m[1])
			if err != nil {
				return Page{}, fmt.Errorf("%s:%d: %w", path, i+1, err)
			}
			pending, pendingLine = &mk, i+1
			continue
		}
		f := fence.FindStringSubmatch(lines[i])
		if f == nil {
			if pending != nil && strings.TrimSpace(lines[i]) != "" {
				return Page{}, fmt.Errorf("%s:%d: a doctest marker must be right before a fenced block", path, pendingLine)
			}
			prose.WriteString(lines[i] + "\n")
			continue
		}
		b := Block{File: path, Line: i + 1, Lang: f[3]}
		indent, end := f[1], f[2]
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != end; i++ {
			b.Text += strings.TrimPrefix(lines[i], indent) + "\n"
		}
		if i == len(lines) {
			return Page{}, fmt.Errorf("%s:%d: the fenced block is never closed", path, b.Line)
		}
		if pending != nil {
			b.Marker, pending = *pending, nil
		}
		page.Blocks = append(page.Blocks, b)
	}
	if pending != nil {
		return Page{}, fmt.Errorf("%s:%d: a doctest marker must be right before a fenced block", path, pendingLine)
	}
	page.Prose = prose.String()
	return page, nil
}

var outputOf = regexp.MustCompile("^output of `([^`]+)`$")

// ParseMarker reads what follows `doctest:` in a marker.
func ParseMarker(s string) (Marker, error) {
	parts := strings.Split(s, ";")
	head := strings.TrimSpace(parts[0])
	var m Marker
	switch {
	case head == "run":
		m.Kind = Run
	case head == "output":
		m.Kind = Output
	case outputOf.MatchString(head):
		m.Kind, m.Command = Output, outputOf.FindStringSubmatch(head)[1]
	case strings.HasPrefix(head, "skip:") && strings.TrimSpace(head[len("skip:"):]) != "":
		// The reason may itself hold semicolons: a skip takes no options.
		return Marker{Kind: Skip, Why: strings.TrimSpace(s[len("skip:"):])}, nil
	default:
		return m, fmt.Errorf("doctest marker %q: want run, output, output of `COMMAND` or skip: WHY", s)
	}
	for _, opt := range parts[1:] {
		if err := m.option(strings.TrimSpace(opt)); err != nil {
			return m, fmt.Errorf("doctest marker %q: %w", s, err)
		}
	}
	return m, nil
}

func (m *Marker) option(opt string) error {
	word, rest, _ := strings.Cut(opt, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case opt == "part":
		m.Part = true
	case opt == "stderr":
		m.Stderr = true
	case word == "exit":
		n, err := strconv.Atoi(rest)
		if err != nil {
			return fmt.Errorf("exit %q: want a number", rest)
		}
		m.Exit = n
	case word == "vary":
		for _, name := range varyList(rest) {
			if _, err := varier(name); err != nil {
				return err
			}
			m.Vary = append(m.Vary, name)
		}
	case strings.HasPrefix(opt, "checked by ") && rest != "by":
		m.CheckedBy = strings.TrimSpace(opt[len("checked by "):])
	default:
		return fmt.Errorf("option %q: want vary NAMES, part, stderr, exit N or checked by PKG", opt)
	}
	return nil
}

// varyList splits vary's list at its commas, except those inside a /REGEXP/,
// which ends at a slash followed by a comma or by the end.
func varyList(list string) []string {
	var names []string
	for list = strings.TrimSpace(list); list != ""; list = strings.TrimSpace(list) {
		end := strings.Index(list, ",")
		if strings.HasPrefix(list, "/") {
			if i := strings.Index(list[1:], "/,"); i >= 0 {
				end = i + 2
			} else {
				end = -1
			}
		}
		if end < 0 {
			names = append(names, list)
			break
		}
		names = append(names, strings.TrimSpace(list[:end]))
		list = list[end+1:]
	}
	return names
}
