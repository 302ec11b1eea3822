package templates

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// quoteTests are tricky values and the exact shell word Quote must make.
var quoteTests = []struct {
	in, want string
}{
	{"", "''"},
	{"numpy", "numpy"},
	{"cuda/12.1", "cuda/12.1"},
	{"a-b_c.d:e@f%g+h,i", "a-b_c.d:e@f%g+h,i"},
	{"-n", "-n"},
	{"a b", "'a b'"},
	{"it's", `'it'\''s'`},
	{"'", `''\'''`},
	{"''", `''\'''\'''`},
	{`'\''`, `''\''\'\'''\'''`},
	{"$HOME", "'$HOME'"},
	{"${HOME}", "'${HOME}'"},
	{"$(id)", "'$(id)'"},
	{"`id`", "'`id`'"},
	{"$'\\n'", `'$'\''\n'\'''`},
	{`"`, `'"'`},
	{`\`, `'\'`},
	{`a\nb`, `'a\nb'`},
	{"a\nb", "'a\nb'"},
	{"\t", "'\t'"},
	{" lead", "' lead'"},
	{"*", "'*'"},
	{"?", "'?'"},
	{"[ab]", "'[ab]'"},
	{"{a,b}", "'{a,b}'"},
	{"~", "'~'"},
	{"~root", "'~root'"},
	{"a=b", "'a=b'"},
	{"#c", "'#c'"},
	{"!", "'!'"},
	{"!!", "'!!'"},
	{";", "';'"},
	{"a&b|c", "'a&b|c'"},
	{"<>", "'<>'"},
	{"()", "'()'"},
	{"é", "'é'"},
	{"日本", "'日本'"},
	{"\xff\xfe", "'\xff\xfe'"},
	{"\x01\x1b[31m\x7f", "'\x01\x1b[31m\x7f'"},
	{"^", "'^'"},
}

func TestQuote(t *testing.T) {
	for _, tc := range quoteTests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Quote(tc.in)
			if err != nil {
				t.Fatalf("Quote(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestQuoteRoundTrip has dash and bash read every quoted word of the table
// back, in one process per shell.
func TestQuoteRoundTrip(t *testing.T) {
	var words []string
	var want []string
	for _, tc := range quoteTests {
		q, err := Quote(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		words = append(words, q)
		want = append(want, tc.in)
	}
	script := `printf '%s\0' ` + strings.Join(words, " ")
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(sh, "-c", script).Output()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got := splitNUL(out)
			if len(got) != len(want) {
				t.Fatalf("%s read %d words, want %d: %q", name, len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("%s read %q back as %q", name, want[i], got[i])
				}
			}
		})
	}
}

func TestQuoteNUL(t *testing.T) {
	for _, in := range []string{"\x00", "a\x00", "\x00b", "it's\x00$(id)"} {
		if q, err := Quote(in); !errors.Is(err, ErrNUL) || q != "" {
			t.Errorf("Quote(%q) = %q, %v; want ErrNUL", in, q, err)
		}
	}
	if _, err := QuoteAll([]string{"ok", "a\x00b"}); !errors.Is(err, ErrNUL) {
		t.Errorf("QuoteAll with a NUL: error %v, want ErrNUL", err)
	}
}

func TestQuoteAll(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{}, ""},
		{[]string{""}, "''"},
		{[]string{"a", "b"}, "a b"},
		{[]string{"a b", "it's", "$x"}, `'a b' 'it'\''s' '$x'`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.in, "|"), func(t *testing.T) {
			got, err := QuoteAll(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("QuoteAll(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// FuzzQuote checks Quote against the real shells: for any string without
// NUL, `printf %s WORD` under dash and under bash prints exactly the
// string; with a NUL, Quote refuses. Each input starts two processes, so
// inputs over 4 KiB are skipped. Seeds: testdata/fuzz/FuzzQuote.
func FuzzQuote(f *testing.F) {
	sh := shells(f)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Quote(s)
		if strings.IndexByte(s, 0) >= 0 {
			if !errors.Is(err, ErrNUL) {
				t.Fatalf("Quote(%q) = %q, %v; want ErrNUL", s, q, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Quote(%q): %v", s, err)
		}
		if strings.IndexByte(q, '\n') >= 0 && strings.IndexByte(s, '\n') < 0 {
			t.Fatalf("Quote(%q) = %q adds a newline", s, q)
		}
		if len(s) > 4096 {
			return
		}
		for _, name := range []string{"dash", "bash"} {
			out, err := exec.Command(sh[name], "-c", "printf %s "+q).Output()
			if err != nil {
				t.Fatalf("%s -c 'printf %%s %s': %v", name, q, err)
			}
			if string(out) != s {
				t.Fatalf("%s read Quote(%q) = %q back as %q", name, s, q, out)
			}
		}
	})
}
