package puzzles

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// A task file is checked whole first (UTF-8, then JSON syntax), and then
// walked by splitting values known to be valid JSON into their elements,
// without decoding the file into a tree: a file refused for what it holds
// (too many test inputs, a repeated key) costs little more memory than its
// own bytes, and a list is counted before any of its grids are built.

// member is one key of a JSON object with its value's bytes.
type member struct {
	key   string
	value []byte
}

// checkText refuses what is not one JSON value in UTF-8, saying where.
func checkText(data []byte) error {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return errorf(CodeNotJSON, "the file is empty; an ARC task is a JSON object with \"train\" and \"test\"")
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return errorf(
			CodeNotJSON,
			"the file starts with a UTF-8 byte order mark (BOM, the bytes EF BB BF), which JSON does not allow; save it as "+
				"UTF-8 without BOM",
		)
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return errorf(
			CodeNotJSON,
			"the file is UTF-16 text (it starts with the byte order mark %X); JSON is UTF-8: save it as UTF-8 without BOM",
			data[:2],
		)
	}
	if i := invalidUTF8(data); i >= 0 {
		line, col := position(data, int64(i))
		return errorf(
			CodeNotJSON,
			"the file is not UTF-8 text: the byte %#02x at line %d column %d is not part of a UTF-8 character (a Latin-1 or "+
				"other legacy encoding?); JSON is UTF-8: save the file as UTF-8",
			data[i],
			line,
			col,
		)
	}
	if json.Valid(data) {
		return nil
	}
	// Decode again only to say where it is wrong.
	dec := json.NewDecoder(bytes.NewReader(data))
	var skip json.RawMessage
	if err := dec.Decode(&skip); err != nil {
		return notJSON(data, err)
	}
	end := dec.InputOffset()
	for end < int64(len(data)) && isSpace(data[end]) {
		end++
	}
	line, col := position(data, end)
	return errorf(CodeNotJSON, "extra data after the JSON value at line %d column %d", line, col)
}

// invalidUTF8 is the offset of the first byte that is not part of a UTF-8
// character, or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

func notJSON(data []byte, err error) *Error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Offset counts the offending byte itself.
		line, col := position(data, syn.Offset-1)
		return errorf(CodeNotJSON, "not valid JSON at line %d column %d: %s", line, col, syn.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(CodeNotJSON, "the JSON ends early (a truncated or half-written file?)")
	}
	return errorf(CodeNotJSON, "not valid JSON: %v", err)
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// elements splits a valid JSON array into its elements, keeping the first
// keep of them (all when keep < 0) and counting them all. ok is false when
// raw is not an array.
func elements(raw []byte, keep int) (elems [][]byte, n int, ok bool) {
	ok = walk(raw, '[', func(i int) int {
		end := valueEnd(raw, i)
		if keep < 0 || n < keep {
			elems = append(elems, raw[i:end])
		}
		n++
		return end
	})
	return elems, n, ok
}

// members splits a valid JSON object into its keys and values, in file
// order, keeping the first keep of them (all when keep < 0) and counting
// them all. ok is false when raw is not an object.
func members(raw []byte, keep int) (ms []member, n int, ok bool) {
	ok = walk(raw, '{', func(i int) int {
		keyEnd := valueEnd(raw, i)
		key := raw[i:keyEnd]
		i = skipSpace(raw, skipSpace(raw, keyEnd)+1) // past the colon
		end := valueEnd(raw, i)
		if keep < 0 || n < keep {
			ms = append(ms, member{key: unquote(key), value: raw[i:end]})
		}
		n++
		return end
	})
	return ms, n, ok
}

// walk calls item with the offset of each element of the valid JSON array
// (open '[') or each member of the object (open '{') raw is; item returns
// the offset where it ends. It reports false when raw is not such a value.
func walk(raw []byte, open byte, item func(i int) (end int)) bool {
	closing := open + 2 // ']' follows '[' by two in ASCII, '}' follows '{'
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != open {
		return false
	}
	for i = skipSpace(raw, i+1); raw[i] != closing; {
		if i = skipSpace(raw, item(i)); raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

// unquote is a valid JSON string's text.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid JSON: it cannot fail
	return s
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	return i
}

// valueEnd is the offset just past the valid JSON value that starts at i.
func valueEnd(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '[', '{':
		depth := 0
		for ; i < len(raw); i++ {
			switch raw[i] {
			case '"':
				i = stringEnd(raw, i) - 1
			case '[', '{':
				depth++
			case ']', '}':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for i < len(raw) && !isSpace(raw[i]) && raw[i] != ',' && raw[i] != ']' && raw[i] != '}' {
		i++
	}
	return i
}

// stringEnd is the offset just past the JSON string that starts at i.
func stringEnd(raw []byte, i int) int {
	for i++; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// kind describes a valid JSON value for an error message.
func kind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '[':
		return "a list"
	case '{':
		return "an object"
	case '"':
		s := unquote(raw)
		if len(s) > 20 {
			s = s[:20] + "..."
		}
		return fmt.Sprintf("the string %q", s)
	}
	return "the number " + string(raw)
}
