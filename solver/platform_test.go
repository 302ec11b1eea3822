package solver

import (
	"os/exec"
	"strings"
	"testing"
)

func TestParseBanner(t *testing.T) {
	cases := []struct {
		data string
		want string
		ok   bool
	}{
		{"\x00GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\nCopyright", "2.36", true},
		{"GNU C Library (GNU libc) stable release version 2.28.\n", "2.28", true},
		{"GNU C Library (Ubuntu GLIBC 2.39-0ubuntu8) stable release version 2.39.\n", "2.39", true},
		{"GNU C Library development release version 2.41.9000.\n", "2.41", true},
		{"GNU C Library stable release version 2.17, by Roland McGrath et al.\n", "2.17", true},
		{"GNU C Library is mentioned first\x00GNU C Library (GNU libc) stable release version 2.34.\n", "2.34", true},
		{"GNU C Library is mentioned but no banner", "", false},
		{"no library here", "", false},
	}
	for _, c := range cases {
		got, ok := parseBanner([]byte(c.data))
		if got != c.want || ok != c.ok {
			t.Errorf("parseBanner(%q) = %q, %v; want %q, %v", c.data, got, ok, c.want, c.ok)
		}
	}
}

// TestGlibcVersionAgreesWithGetconf: reading the banner must give what
// getconf says, on this machine's real C library.
func TestGlibcVersionAgreesWithGetconf(t *testing.T) {
	out, err := exec.Command("getconf", "GNU_LIBC_VERSION").Output()
	if err != nil {
		t.Skip("no getconf GNU_LIBC_VERSION here (not glibc)")
	}
	want := strings.TrimPrefix(strings.TrimSpace(string(out)), "glibc ")
	found := false
	for _, p := range libcPaths() {
		if v, ok := bannerVersion(p); ok {
			found = true
			if v != want {
				t.Errorf("%s: banner says %s, getconf %s", p, v, want)
			}
		}
	}
	if !found {
		t.Errorf("no glibc banner found in %v; every start would fall back to getconf", libcPaths())
	}
	if got := glibcVersion(); got != want {
		t.Errorf("glibcVersion() = %q, getconf %q", got, want)
	}
}
