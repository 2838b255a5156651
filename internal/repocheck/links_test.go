package repocheck

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/hrmd/hrmd/internal/testenv"
)

// maxReadmeLines: README.md is the first screen a newcomer reads; the
// reference lives in docs/.
const maxReadmeLines = 250

// forbidden is a folder that exists only beside the developers' checkouts: a
// user's clone has nothing beside it, so no document may point there. (Put
// together, so that this test does not itself read as pointing there.)
var forbidden = path.Join("..", "shared")

// repoRoot is the repository's root.
func repoRoot(t *testing.T) string { return testenv.RepoRoot(t) }

func TestReadmeLength(t *testing.T) {
	for _, p := range checkReadmeLength(repoRoot(t)) {
		t.Error(p)
	}
}

func TestEveryDocsPageLinkedFromReadme(t *testing.T) {
	for _, p := range checkDocsLinked(repoRoot(t)) {
		t.Error(p)
	}
}

func TestLinksResolve(t *testing.T) {
	for _, p := range checkLinks(repoRoot(t)) {
		t.Error(p)
	}
}

func TestNoSharedFolder(t *testing.T) {
	for _, p := range checkForbidden(repoRoot(t)) {
		t.Error(p)
	}
}

// TestCheckersCatch runs every check on small made-up repositories: each
// problem must be found, and nothing else.
func TestCheckersCatch(t *testing.T) {
	const page = "# A page\n\n## Some section\n\ntext\n"
	readme := func(body string) string {
		return "# Project\n\n[page](docs/page.md)\n" + body
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // a substring of each problem, in order
	}{
		{
			name: "all good",
			files: map[string]string{
				"README.md": readme("[section](docs/page.md#some-section), [top](#project), " +
					"[code](internal/x.go), [folder](internal/), [web](https://example.com/a.md), " +
					"[mail](mailto:me@example.com), ![picture](docs/pic.png)\n\n[ref]: docs/page.md#a-page\n"),
				"docs/page.md":    page + "\n[back](../README.md#project) [self](#some-section) [line](../internal/x.go#L3)\n",
				"docs/pic.png":    "",
				"internal/x.go":   "package x\n",
				"jetson/notes.md": "nothing here\n",
			},
		},
		{
			name: "dead file",
			files: map[string]string{
				"README.md":    readme("see [gone](docs/gone.md)\n"),
				"docs/page.md": page,
			},
			want: []string{"README.md:4: link docs/gone.md: docs/gone.md does not exist"},
		},
		{
			name: "dead anchor in another file",
			files: map[string]string{
				"README.md":    readme("see [gone](docs/page.md#no-such-section)\n"),
				"docs/page.md": page,
			},
			want: []string{
				`README.md:4: link docs/page.md#no-such-section: docs/page.md has no heading with the anchor "no-such-section"`,
			},
		},
		{
			name: "dead anchor in the same file",
			files: map[string]string{
				"README.md":    readme(""),
				"docs/page.md": page + "[up](#a-pag)\n",
			},
			want: []string{`docs/page.md:6: link #a-pag: docs/page.md has no heading with the anchor "a-pag"`},
		},
		{
			name: "dead link in a reference definition",
			files: map[string]string{
				"README.md":    readme("[x][ref]\n\n[ref]: docs/nothing.md\n"),
				"docs/page.md": page,
			},
			want: []string{"README.md:6: link docs/nothing.md: docs/nothing.md does not exist"},
		},
		{
			name: "duplicate headings get -1, -2",
			files: map[string]string{
				"README.md": readme(
					"[1](docs/page.md#twice) [2](docs/page.md#twice-1) [3](docs/page.md#twice-2) [4](docs/page.md#twice-3)\n",
				),
				"docs/page.md": "# Twice\n\n## Twice\n\n### Twice\n",
			},
			want: []string{`README.md:4: link docs/page.md#twice-3: docs/page.md has no heading with the anchor "twice-3"`},
		},
		{
			name: "setext headings and headings in code blocks",
			files: map[string]string{
				"README.md":    readme("[a](docs/page.md#underlined) [b](docs/page.md#dashed) [c](docs/page.md#not-a-heading)\n"),
				"docs/page.md": "Underlined\n==========\n\nDashed\n------\n\n```\n# Not a heading\n```\n",
			},
			want: []string{`link docs/page.md#not-a-heading: docs/page.md has no heading with the anchor "not-a-heading"`},
		},
		{
			name: "links in code are not links",
			files: map[string]string{
				"README.md": readme("```sh\n[x](docs/fenced.md)\n```\n\n~~~\n[y](docs/tilde.md)\n~~~\n\n" +
					"`[z](docs/inline.md)` and ``[w](docs/double.md)``\n"),
				"docs/page.md": page,
			},
		},
		{
			name: "a shorter fence does not close a longer one",
			files: map[string]string{
				"README.md":    readme("````\n```\n[x](docs/fenced.md)\n````\n[y](docs/after.md)\n"),
				"docs/page.md": page,
			},
			want: []string{"README.md:8: link docs/after.md: docs/after.md does not exist"},
		},
		{
			name: "a link out of the repository",
			files: map[string]string{
				"README.md":    readme("[out](../outside.md)\n"),
				"docs/page.md": page,
			},
			want: []string{"README.md:4: link ../outside.md: points outside the repository"},
		},
		{
			name: "a docs page not linked from README.md",
			files: map[string]string{
				"README.md":     readme(""),
				"docs/page.md":  page + "[other](other.md)\n",
				"docs/other.md": "# Other\n",
			},
			want: []string{"docs/other.md is not linked from README.md"},
		},
		{
			name: "README.md too long",
			files: map[string]string{
				"README.md":    readme(strings.Repeat("line\n", maxReadmeLines-3)),
				"docs/page.md": page,
			},
			want: []string{"README.md has 250 lines; keep it under 250"},
		},
		{
			name: "README.md just short enough, last line unterminated",
			files: map[string]string{
				"README.md":    readme(strings.Repeat("line\n", maxReadmeLines-5) + "last"),
				"docs/page.md": page,
			},
		},
		{
			name: "the developers' shared folder",
			files: map[string]string{
				"README.md":            readme("```sh\nhrmd solve " + forbidden + "/arc/x.json\n```\n"),
				"docs/page.md":         page,
				"jetson/testdata/x.md": "see [there](../../" + forbidden + "/design/DESIGN.md)\n",
			},
			want: []string{
				"README.md:5: mentions " + forbidden,
				"jetson/testdata/x.md:1: mentions " + forbidden,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tt.files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := allProblems(root)
			if len(got) != len(tt.want) {
				t.Fatalf("found %d problems, want %d:\n  %s", len(got), len(tt.want), strings.Join(got, "\n  "))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d is %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"What hrmd answers", "what-hrmd-answers"},
		{"`hrmd solve`", "hrmd-solve"},
		{"`--sysroot`", "--sysroot"},
		{"The exporter: your checkpoint to a bundle", "the-exporter-your-checkpoint-to-a-bundle"},
		{"Try it: two commands on a fresh machine", "try-it-two-commands-on-a-fresh-machine"},
		{"Memory on 4 and 8 GB boards", "memory-on-4-and-8-gb-boards"},
		{"snake_case stays, dots go: v1.2", "snake_case-stays-dots-go-v12"},
		{"Two  spaces", "two--spaces"},
		{"Ünïcode letters stay", "ünïcode-letters-stay"},
		{"A [link](x.md) in it", "a-link-in-it"},
		{"**Bold** and *em*", "bold-and-em"},
	}
	for _, tt := range tests {
		if got := slug(tt.heading); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

// allProblems is every check on the repository at root, in a fixed order.
func allProblems(root string) []string {
	var all []string
	all = append(all, checkReadmeLength(root)...)
	all = append(all, checkDocsLinked(root)...)
	all = append(all, checkLinks(root)...)
	all = append(all, checkForbidden(root)...)
	return all
}

func checkReadmeLength(root string) []string {
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		return []string{err.Error()}
	}
	n := strings.Count(string(data), "\n")
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	if n >= maxReadmeLines {
		return []string{
			fmt.Sprintf(
				"README.md has %d lines; keep it under %d (it is the first screen: move reference material to docs/)",
				n,
				maxReadmeLines,
			),
		}
	}
	return nil
}

// checkDocsLinked: every Markdown page under docs/ has a link from README.md.
func checkDocsLinked(root string) []string {
	pages, err := docsPages(root)
	if err != nil {
		return []string{err.Error()}
	}
	linked := map[string]bool{}
	doc, err := readDoc(root, "README.md")
	if err != nil {
		return []string{err.Error()}
	}
	for _, l := range doc.links {
		if target, _, external := splitTarget(l.target); !external && target != "" {
			if rel, ok := resolve(root, "README.md", target); ok {
				linked[rel] = true
			}
		}
	}
	var problems []string
	for _, p := range pages {
		if !linked[p] {
			problems = append(
				problems,
				fmt.Sprintf("%s is not linked from README.md (the README's \"where to go next\" lists every page)", p),
			)
		}
	}
	return problems
}

// checkLinks: every relative link in README.md and docs/ reaches a file of
// the repository, and its anchor, if any, a heading of that file.
func checkLinks(root string) []string {
	pages, err := docsPages(root)
	if err != nil {
		return []string{err.Error()}
	}
	docs := map[string]*doc{} // parsed Markdown files, by path from root
	get := func(rel string) (*doc, error) {
		if d, ok := docs[rel]; ok {
			return d, nil
		}
		d, err := readDoc(root, rel)
		if err != nil {
			return nil, err
		}
		docs[rel] = d
		return d, nil
	}
	var problems []string
	for _, from := range append([]string{"README.md"}, pages...) {
		d, err := get(from)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, l := range d.links {
			where := fmt.Sprintf("%s:%d: link %s", from, l.line, l.target)
			target, anchor, external := splitTarget(l.target)
			if external {
				continue
			}
			rel := from
			if target != "" {
				var ok bool
				if rel, ok = resolve(root, from, target); !ok {
					problems = append(problems, where+": points outside the repository")
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
					problems = append(problems, fmt.Sprintf("%s: %s does not exist", where, rel))
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !isMarkdown(rel) {
				if !lineAnchor.MatchString(anchor) {
					problems = append(problems, fmt.Sprintf("%s: %s is not Markdown, so it has no heading %q", where, rel, anchor))
				}
				continue
			}
			td, err := get(rel)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
				continue
			}
			if !td.anchors[anchor] {
				problems = append(problems, fmt.Sprintf("%s: %s has no heading with the anchor %q", where, rel, anchor))
			}
		}
	}
	return problems
}

// checkForbidden: no Markdown file of the repository mentions the
// developers' shared folder, in a link, in code or in prose.
func checkForbidden(root string) []string {
	files, err := markdownFiles(root)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, forbidden) {
				problems = append(
					problems,
					fmt.Sprintf(
						"%s:%d: mentions %s, which exists only beside the developers' checkouts; point into the clone "+
							"(testdata/arc/...) or at a public URL",
						rel,
						i+1,
						forbidden,
					),
				)
			}
		}
	}
	return problems
}

// docsPages lists the Markdown files under docs/, by path from root.
func docsPages(root string) ([]string, error) {
	dir := filepath.Join(root, "docs")
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil, nil
	}
	var pages []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && isMarkdown(p) {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			pages = append(pages, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(pages)
	return pages, err
}

// markdownFiles lists every Markdown file of the repository, by path from
// root, leaving out hidden folders (.git, .cache) and build outputs.
func markdownFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			name := e.Name()
			if p != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "dist" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if isMarkdown(p) {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func isMarkdown(p string) bool {
	ext := strings.ToLower(path.Ext(filepath.ToSlash(p)))
	return ext == ".md" || ext == ".markdown"
}

// lineAnchor is GitHub's anchor for lines of a file that is not Markdown.
var lineAnchor = regexp.MustCompile(`^L\d+(-L\d+)?$`)

// splitTarget splits a link's target into its path and anchor; external is
// true for links that leave the repository by design (web, mail).
func splitTarget(target string) (p, anchor string, external bool) {
	lower := strings.ToLower(target)
	for _, scheme := range []string{"http://", "https://", "mailto:"} {
		if strings.HasPrefix(lower, scheme) {
			return "", "", true
		}
	}
	p, anchor, _ = strings.Cut(target, "#")
	p, _, _ = strings.Cut(p, "?")
	if a, err := url.PathUnescape(anchor); err == nil {
		anchor = a
	}
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return p, anchor, false
}

// resolve turns target, linked from the file from (both relative to root,
// slash-separated), into a path from root; ok is false when it leaves the
// repository. A target starting with / is from the root, as on GitHub.
func resolve(root, from, target string) (rel string, ok bool) {
	if strings.HasPrefix(target, "/") {
		rel = path.Clean(strings.TrimPrefix(target, "/"))
	} else {
		rel = path.Clean(path.Join(path.Dir(from), target))
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

// A doc is what the checks need of one Markdown file.
type doc struct {
	links   []link
	anchors map[string]bool // GitHub's anchors of its headings
}

type link struct {
	line   int
	target string
}

var (
	fenceOpen = regexp.MustCompile("^ {0,3}(`{3,}|~{3,})")
	atx       = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	setext    = regexp.MustCompile(`^ {0,3}(=+|-+)[ \t]*$`)
	// [text](target "title") and ![alt](target); the text may hold one level
	// of brackets.
	inlineLink = regexp.MustCompile(
		`\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^\s()<>]+)>?(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)`,
	)
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s<>]+)>?`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:[^>]*\s)?(?:name|id)="([^"]+)"`)
)

func readDoc(root, rel string) (*doc, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	return parse(string(data)), nil
}

// parse finds the links and the heading anchors of a Markdown text, outside
// fenced code blocks and code spans.
func parse(text string) *doc {
	d := &doc{anchors: map[string]bool{}}
	seen := map[string]int{}
	addHeading := func(title string) {
		s := slug(title)
		if n, dup := seen[s]; dup {
			seen[s] = n + 1
			s = fmt.Sprintf("%s-%d", s, n+1)
		} else {
			seen[s] = 0
		}
		d.anchors[s] = true
	}
	var fence string // the open fence's marker, "" outside one
	prev := ""       // the previous line, when it could be a setext heading's text
	for i, line := range strings.Split(text, "\n") {
		if fence != "" {
			if m := fenceOpen.FindStringSubmatch(line); m != nil && m[1][0] == fence[0] && len(m[1]) >= len(fence) &&
				strings.TrimSpace(line[len(m[0]):]) == "" {
				fence = ""
			}
			continue
		}
		if m := fenceOpen.FindStringSubmatch(line); m != nil {
			fence, prev = m[1], ""
			continue
		}
		if m := atx.FindStringSubmatch(line); m != nil {
			addHeading(m[2])
			prev = ""
		} else if setext.MatchString(line) && prev != "" {
			addHeading(prev)
			prev = ""
			continue
		} else if paragraphText(line) {
			prev = line
		} else {
			prev = ""
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			d.anchors[m[1]] = true
		}
		code := stripCodeSpans(line)
		for _, m := range inlineLink.FindAllStringSubmatch(code, -1) {
			d.links = append(d.links, link{line: i + 1, target: m[1]})
		}
		if m := refDef.FindStringSubmatch(code); m != nil {
			d.links = append(d.links, link{line: i + 1, target: m[1]})
		}
	}
	return d
}

// paragraphText: a line that a following === or --- line makes a heading
// (not blank, not a list item, quote, table or heading).
func paragraphText(line string) bool {
	s := strings.TrimSpace(line)
	if s == "" || strings.HasPrefix(line, "    ") {
		return false
	}
	switch s[0] {
	case '#', '-', '*', '+', '>', '|', '<':
		return false
	}
	return !orderedItem.MatchString(s)
}

var orderedItem = regexp.MustCompile(`^\d+[.)]\s`)

// stripCodeSpans blanks `code spans` (of any number of backticks), so that
// what looks like a link inside one is not taken for a link.
func stripCodeSpans(line string) string {
	b := []byte(line)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		end := -1
		for j := i + n; j < len(b); {
			if b[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(b) && b[j+m] == '`' {
				m++
			}
			if m == n {
				end = j + m
				break
			}
			j += m
		}
		if end < 0 {
			i += n // no closing run: the backticks are literal
			continue
		}
		for k := i; k < end; k++ {
			b[k] = ' '
		}
		i = end
	}
	return string(b)
}

var mdLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// slug is GitHub's anchor for a heading: the text as rendered, lowercased,
// without characters other than letters, digits, spaces, hyphens and
// underscores, each space a hyphen.
func slug(heading string) string {
	text := mdLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(text)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
