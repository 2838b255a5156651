package doctest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	const out = "model    halo-demo (nova, sha256 7fb02a0827eb)\n" +
		"batch  p50       rows/s\n" +
		"1      32.8 ms   27.4\n" +
		"2      77.8 ms   25.5\n" +
		"summary: 2 batches in 4.2 s\n"
	tests := []struct {
		name   string
		sample string
		vary   []string
		part   bool
		ok     bool
	}{
		{"itself", out, nil, false, true},
		{"spaces", strings.ReplaceAll(out, "   ", " "), nil, false, true},
		{"a changed value", strings.Replace(out, "7fb02a0827eb", "fb068263918c", 1), nil, false, false},
		{"a changed value, hex varying", strings.Replace(out, "7fb02a0827eb", "fb068263918c", 1),
			[]string{"hex"}, false, true},
		{"other timings", strings.NewReplacer("32.8 ms", "30.1 ms", "4.2 s", "5 s").Replace(out),
			[]string{"durations"}, false, true},
		{"other timings, not varying", strings.Replace(out, "4.2 s", "5 s", 1), nil, false, false},
		{"other rates", strings.Replace(out, "27.4", "30.0", 1), []string{"durations"}, false, false},
		{"other rates, numbers varying", strings.Replace(out, "27.4", "30.0", 1), []string{"numbers"}, false, true},
		{"another model, its name varying", strings.Replace(out, "halo-demo", "halo-big", 1),
			[]string{`/halo-\w+/`}, false, true},
		{"a line missing", strings.Replace(out, "2      77.8 ms   25.5\n", "", 1), nil, false, false},
		{"a line more", out + "extra\n", nil, false, false},
		{"elided", "model    halo-demo (nova, sha256 7fb02a0827eb)\n[... the batches ...]\nsummary: 2 batches in 4.2 s\n",
			nil, false, true},
		{"elided end", "model    halo-demo (nova, sha256 7fb02a0827eb)\n[... more ...]\n", nil, false, true},
		{"elided, then wrong", "model    halo-demo (nova, sha256 7fb02a0827eb)\n[... more ...]\nsummary: 3\n",
			nil, false, false},
		{"part", "1      32.8 ms   27.4\n2      77.8 ms   25.5\n", nil, true, true},
		{"part, not contiguous", "1      32.8 ms   27.4\nsummary: 2 batches in 4.2 s\n", nil, true, false},
		{"part, not whole", "1      32.8 ms   27.4\n", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Match(tt.sample, out, tt.vary, tt.part)
			if (err == nil) != tt.ok {
				t.Errorf("Match = %v, want ok %v", err, tt.ok)
			}
		})
	}
	// An elision goes on from the place the rest matches, not the first
	// line like the next one: here the second blank line.
	sections := "── a\n1\n\n── b\n2\n\n── c\n3\n"
	for sample, ok := range map[string]bool{
		"── a\n[... b ...]\n\n── c\n3\n":      true,
		"── a\n[... b ...]\n\n── c\n4\n":      false,
		"[... a ...]\n── b\n2\n[... c ...]\n": true,
	} {
		if err := Match(sample, sections, nil, false); (err == nil) != ok {
			t.Errorf("Match(%q) = %v, want ok %v", sample, err, ok)
		}
	}
}

func TestMatchPart(t *testing.T) {
	for _, tt := range []struct {
		sample string
		ok     bool
	}{
		{"── b\n2\n", true},
		{"── b\n[... more ...]\n3\n", true},
		{"── b\n3\n", false},
	} {
		t.Run(tt.sample, func(t *testing.T) {
			err := Match(tt.sample, "── a\n1\n── b\n2\n── c\n3\n", nil, true)
			if (err == nil) != tt.ok {
				t.Errorf("Match = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestParseMarker(t *testing.T) {
	tests := []struct {
		in   string
		want Marker
		err  string
	}{
		{in: "run", want: Marker{Kind: Run}},
		{in: "run; exit 2", want: Marker{Kind: Run, Exit: 2}},
		{in: "output", want: Marker{Kind: Output}},
		{in: "output of `bin/hrmd help solve`; part",
			want: Marker{Kind: Output, Command: "bin/hrmd help solve", Part: true}},
		{in: "output of `bin/hrmd version`; vary version, hex; stderr",
			want: Marker{Kind: Output, Command: "bin/hrmd version", Vary: []string{"version", "hex"}, Stderr: true}},
		{in: "output of `./build.sh demo`; checked by internal/demo",
			want: Marker{Kind: Output, Command: "./build.sh demo", CheckedBy: "internal/demo"}},
		{in: "skip: needs sudo; and a Jetson", want: Marker{Kind: Skip, Why: "needs sudo; and a Jetson"}},
		{in: "skip:", err: "want run, output"},
		{in: "ran", err: "want run, output"},
		{in: "output; vary colours", err: `vary "colours": want some of device, durations, hex, numbers, paths, version`},
		{in: "run; exit two", err: "want a number"},
		{in: "output; vary /checking as \\w+/, numbers",
			want: Marker{Kind: Output, Vary: []string{"/checking as \\w+/", "numbers"}}},
		{in: "output; vary /(/", err: "vary /(/: error parsing regexp"},
		{in: "output; vary device, /a, b/, /c/,numbers",
			want: Marker{Kind: Output, Vary: []string{"device", "/a, b/", "/c/", "numbers"}}},
		{in: "run; loudly", err: "want vary NAMES"},
	}
	for _, tt := range tests {
		got, err := ParseMarker(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseMarker(%q) = %v, want an error with %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseMarker(%q): %v", tt.in, err)
		case !equalMarkers(got, tt.want):
			t.Errorf("ParseMarker(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func equalMarkers(a, b Marker) bool {
	return a.Kind == b.Kind && a.Command == b.Command && strings.Join(a.Vary, ",") == strings.Join(b.Vary, ",") &&
		a.Part == b.Part && a.Stderr == b.Stderr && a.Exit == b.Exit && a.CheckedBy == b.CheckedBy && a.Why == b.Why
}

func TestReadPage(t *testing.T) {
	page := "# A page\n\n<!-- doctest: run -->\n```sh\nbin/hrmd version\n```\n\n" +
		"   <!-- doctest: output; vary durations -->\n   ```\n   took 3 s\n   ```\n\n```json\n{}\n```\n"
	path := filepath.Join(t.TempDir(), "page.md")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := ReadPage(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# A page\n\n\n\n\n"; p.Prose != want {
		t.Errorf("prose %q, want %q: the lines outside the blocks and their markers", p.Prose, want)
	}
	blocks := p.Blocks
	if len(blocks) != 3 {
		t.Fatalf("%d blocks, want 3: %+v", len(blocks), blocks)
	}
	if b := blocks[0]; b.Line != 4 || b.Lang != "sh" || b.Text != "bin/hrmd version\n" || b.Marker.Kind != Run ||
		!b.NeedsMarker() {
		t.Errorf("block 0: %+v", b)
	}
	if b := blocks[1]; b.Text != "took 3 s\n" || b.Marker.Kind != Output || b.NeedsMarker() {
		t.Errorf("block 1 (indented, as in a list): %+v", b)
	}
	if b := blocks[2]; b.Lang != "json" || b.Marker.Kind != None {
		t.Errorf("block 2: %+v", b)
	}

	for name, bad := range map[string]string{
		"marker before text":   "<!-- doctest: run -->\ntext\n```sh\nx\n```\n",
		"marker at the end":    "text\n<!-- doctest: run -->\n",
		"unclosed fence":       "```sh\nx\n",
		"marker it cannot use": "<!-- doctest: rn -->\n```sh\nx\n```\n",
	} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadPage(path); err == nil || !strings.Contains(err.Error(), "page.md:") {
			t.Errorf("%s: ReadPage = %v, want an error naming the line", name, err)
		}
	}
}
