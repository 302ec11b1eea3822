package solver

import (
	"bytes"
	"debug/elf"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
)

// Platform names what compiled packages depend on: OS, architecture and C
// library version ("linux-amd64-glibc2.36").
func Platform() string {
	p := runtime.GOOS + "-" + runtime.GOARCH
	if v := glibcVersion(); v != "" {
		p += "-glibc" + v
	}
	return p
}

// glibcVersion is the C library's version, "" where there is no glibc. It
// is read from the library's own banner, which costs a read from the page
// cache; every job start needs it, and running getconf costs a process.
// getconf is the fallback when the library is not where distributions put it.
var glibcVersion = sync.OnceValue(func() string {
	for _, p := range libcPaths() {
		if v, ok := bannerVersion(p); ok {
			return v
		}
	}
	out, err := exec.Command("getconf", "GNU_LIBC_VERSION").Output()
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "glibc ")
})

// libcPaths lists where distributions install this architecture's glibc:
// Debian's multiarch directory, then the Red Hat and Arch locations.
func libcPaths() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
		"ppc64le": "powerpc64le-linux-gnu", "riscv64": "riscv64-linux-gnu", "s390x": "s390x-linux-gnu"}[runtime.GOARCH]
	var paths []string
	if triplet != "" {
		paths = append(paths, "/lib/"+triplet+"/libc.so.6")
	}
	return append(paths, "/lib64/libc.so.6", "/usr/lib64/libc.so.6", "/usr/lib/libc.so.6")
}

// bannerRE matches the banner glibc prints when run as a program:
// "GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36."
// Older releases go on: "release version 2.17, by Roland McGrath et al."
var bannerRE = regexp.MustCompile(`^GNU C Library [^\n]* release version ([0-9]+\.[0-9]+)[.,\s]`)

// bannerVersion finds the version in the banner in libc's read-only data.
// Only a library built for this machine counts.
func bannerVersion(path string) (string, bool) {
	f, err := elf.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if f.Machine != machine[runtime.GOARCH] {
		return "", false
	}
	sec := f.Section(".rodata")
	if sec == nil {
		return "", false
	}
	data, err := sec.Data()
	if err != nil {
		return "", false
	}
	return parseBanner(data)
}

// parseBanner finds glibc's banner in data.
func parseBanner(data []byte) (string, bool) {
	for {
		i := bytes.Index(data, []byte("GNU C Library "))
		if i < 0 {
			return "", false
		}
		if m := bannerRE.FindSubmatch(data[i:min(len(data), i+256)]); m != nil {
			return string(m[1]), true
		}
		data = data[i+1:]
	}
}

var machine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "ppc64le": elf.EM_PPC64,
	"riscv64": elf.EM_RISCV, "s390x": elf.EM_S390, "386": elf.EM_386}
