package jobspec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PythonSpec is what the python key (or a requires-python) asks for: a
// bare version ("3.11": any 3.11.x, "3.11.4": exactly that) or a PEP 440
// specifier set of Python versions (">=3.10", ">=3.9,<3.12", "~=3.10",
// "==3.11.*", "!=3.12").
type PythonSpec struct {
	Text    string
	clauses []versionClause
}

type versionClause struct {
	op       string
	version  []int
	wildcard bool // ==X.Y.* or !=X.Y.*
}

var (
	bareVersionRe   = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}$`)
	versionClauseRe = regexp.MustCompile(`^\s*(~=|===|==|!=|<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?\s*$`)
)

// ParsePythonSpec parses a python value or a requires-python specifier.
func ParsePythonSpec(s string) (PythonSpec, error) {
	p := PythonSpec{Text: strings.TrimSpace(s)}
	if bareVersionRe.MatchString(p.Text) {
		v, _ := parseVersion(p.Text)
		p.clauses = []versionClause{{op: "==", version: v, wildcard: len(v) < 3}}
		return p, nil
	}
	for _, c := range strings.Split(p.Text, ",") {
		m := versionClauseRe.FindStringSubmatch(c)
		if m == nil {
			return p, fmt.Errorf("%q is not a Python version or version specifier", strings.TrimSpace(c))
		}
		v, _ := parseVersion(m[2])
		vc := versionClause{op: m[1], version: v, wildcard: m[3] != ""}
		if vc.wildcard && vc.op != "==" && vc.op != "!=" {
			return p, fmt.Errorf("%q: .* goes only with == and !=", strings.TrimSpace(c))
		}
		if vc.op == "~=" && len(v) < 2 {
			return p, fmt.Errorf("%q: ~= needs at least X.Y", strings.TrimSpace(c))
		}
		if vc.op == "===" {
			vc.op = "=="
		}
		p.clauses = append(p.clauses, vc)
	}
	return p, nil
}

// Bare reports whether the spec is a bare version such as "3.11".
func (p PythonSpec) Bare() bool { return bareVersionRe.MatchString(p.Text) }

// Allows reports whether the Python version v satisfies every clause. v
// is a full version ("3.11.2"), or a family ("3.11") whose patch level is
// not known yet: then it is allowed when some 3.11.x would be.
func (p PythonSpec) Allows(v string) bool {
	ver, err := parseVersion(v)
	if err != nil {
		return false
	}
	if len(ver) != 2 {
		return p.allows(ver)
	}
	for patch := 0; patch < 100; patch++ {
		if p.allows([]int{ver[0], ver[1], patch}) {
			return true
		}
	}
	return false
}

func (p PythonSpec) allows(v []int) bool {
	for _, c := range p.clauses {
		if !c.allows(v) {
			return false
		}
	}
	return true
}

func (c versionClause) allows(v []int) bool {
	cmp := compareVersions(v, c.version)
	prefix := func(n int) bool { // v starts with c.version[:n]
		return compareVersions(pad(append([]int(nil), v...), n)[:n], c.version[:n]) == 0
	}
	switch c.op {
	case "==":
		if c.wildcard || len(c.version) < 3 {
			return prefix(len(c.version))
		}
		return cmp == 0
	case "!=":
		if c.wildcard {
			return !prefix(len(c.version))
		}
		return cmp != 0
	case ">=":
		return cmp >= 0
	case ">":
		return cmp > 0
	case "<=":
		return cmp <= 0
	case "<":
		return cmp < 0
	case "~=":
		return cmp >= 0 && prefix(len(c.version)-1)
	}
	return false
}

func parseVersion(s string) ([]int, error) {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("bad version %q", s)
		}
		v = append(v, n)
	}
	return v, nil
}

func pad(v []int, n int) []int {
	for len(v) < n {
		v = append(v, 0)
	}
	return v
}

func compareVersions(a, b []int) int {
	n := max(len(a), len(b))
	a, b = pad(append([]int(nil), a...), n), pad(append([]int(nil), b...), n)
	for i := 0; i < n; i++ {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}
