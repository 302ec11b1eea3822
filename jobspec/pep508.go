package jobspec

import (
	"fmt"
	"regexp"
	"strings"
)

// Requirement is a PEP 508 dependency specifier, split into its parts. senv
// checks requirements before any tool runs (so that `senv check` refuses
// what the resolver would) and needs the name to check that the lock holds
// everything asked for; what a requirement means is the resolver's business.
type Requirement struct {
	Name      string // as written
	Extras    []string
	Specifier string // version specifier, e.g. ">=1.0,<2"; "" with URL
	URL       string // `name @ URL`
	Marker    string // the environment marker after ';', if any
}

var (
	pep508NameRe  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?`)
	pep508VerRe   = regexp.MustCompile(`^\s*(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9._*+!-]+)\s*`)
	markerVarRe   = regexp.MustCompile(`^(python_version|python_full_version|os_name|sys_platform|platform_release|platform_system|platform_version|platform_machine|platform_python_implementation|implementation_name|implementation_version|extra|extras|dependency_groups|os\.name|sys\.platform|platform\.version|platform\.machine|platform\.python_implementation|python_implementation)\b`)
	markerOpRe    = regexp.MustCompile(`^(~=|===|==|!=|<=|>=|<|>|not\s+in\b|in\b)`)
	markerBoolRe  = regexp.MustCompile(`^(and|or)\b`)
	urlSchemeRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	requirementSp = " \t"
)

// ParseRequirement parses one PEP 508 requirement. The error says what is
// wrong in words a user can act on; it does not repeat the requirement.
func ParseRequirement(s string) (Requirement, error) {
	var r Requirement
	rest := strings.TrimLeft(s, requirementSp)
	name := pep508NameRe.FindString(rest)
	if name == "" {
		return r, fmt.Errorf("not a PEP 508 requirement: it must start with a package name")
	}
	r.Name = name
	rest = strings.TrimLeft(rest[len(name):], requirementSp)
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return r, fmt.Errorf("extras are not closed with ]")
		}
		for _, e := range strings.Split(rest[1:end], ",") {
			e = strings.TrimSpace(e)
			if e == "" && strings.TrimSpace(rest[1:end]) == "" {
				break
			}
			if pep508NameRe.FindString(e) != e || e == "" {
				return r, fmt.Errorf("%q is not an extra name", e)
			}
			r.Extras = append(r.Extras, e)
		}
		rest = strings.TrimLeft(rest[end+1:], requirementSp)
	}
	switch {
	case strings.HasPrefix(rest, "@"):
		rest = strings.TrimLeft(rest[1:], requirementSp)
		end := strings.IndexAny(rest, requirementSp)
		if end < 0 {
			end = len(rest)
		}
		r.URL = rest[:end]
		if !urlSchemeRe.MatchString(r.URL) && !strings.HasPrefix(r.URL, "file:") {
			return r, fmt.Errorf("%q after @ is not a URL", r.URL)
		}
		rest = strings.TrimLeft(rest[end:], requirementSp)
		if rest != "" && !strings.HasPrefix(rest, ";") {
			return r, fmt.Errorf("unexpected %q after the URL", rest)
		}
	default:
		spec, after, err := parseSpecifier(rest)
		if err != nil {
			return r, fmt.Errorf("%v", err)
		}
		r.Specifier, rest = spec, after
	}
	if rest == "" {
		return r, nil
	}
	if !strings.HasPrefix(rest, ";") {
		return r, fmt.Errorf("unexpected %q (a version is written like ==1.0, >=1.2,<2; a marker follows a ;)", rest)
	}
	r.Marker = strings.TrimSpace(rest[1:])
	if err := checkMarker(r.Marker); err != nil {
		return r, fmt.Errorf("marker %v", err)
	}
	return r, nil
}

// parseSpecifier reads a version specifier list, bare or in parentheses,
// and returns it with the text that follows.
func parseSpecifier(s string) (spec, rest string, err error) {
	paren := strings.HasPrefix(s, "(")
	if paren {
		s = s[1:]
	}
	var clauses []string
	for {
		m := pep508VerRe.FindStringSubmatch(s)
		if m == nil {
			break
		}
		clauses = append(clauses, m[1]+m[2])
		s = s[len(m[0]):]
		if !strings.HasPrefix(s, ",") {
			break
		}
		s = s[1:]
	}
	if strings.HasSuffix(strings.Join(clauses, ","), ",") || (len(clauses) > 0 && strings.HasPrefix(strings.TrimSpace(s), ",")) {
		return "", "", fmt.Errorf("dangling , in the version specifier")
	}
	if paren {
		s = strings.TrimLeft(s, requirementSp)
		if !strings.HasPrefix(s, ")") {
			return "", "", fmt.Errorf("version specifier not closed with )")
		}
		s = s[1:]
	}
	return strings.Join(clauses, ","), strings.TrimLeft(s, requirementSp), nil
}

// checkMarker checks the grammar of a PEP 508 environment marker.
func checkMarker(m string) error {
	rest, err := markerOr(strings.TrimSpace(m))
	if err != nil {
		return err
	}
	if strings.TrimSpace(rest) != "" {
		return fmt.Errorf("has unexpected %q", rest)
	}
	return nil
}

func markerOr(s string) (string, error) {
	for {
		var err error
		if s, err = markerAtom(s); err != nil {
			return s, err
		}
		s = strings.TrimLeft(s, requirementSp)
		op := markerBoolRe.FindString(s)
		if op == "" {
			return s, nil
		}
		s = strings.TrimLeft(s[len(op):], requirementSp)
	}
}

func markerAtom(s string) (string, error) {
	s = strings.TrimLeft(s, requirementSp)
	if strings.HasPrefix(s, "(") {
		rest, err := markerOr(s[1:])
		if err != nil {
			return rest, err
		}
		rest = strings.TrimLeft(rest, requirementSp)
		if !strings.HasPrefix(rest, ")") {
			return rest, fmt.Errorf("is missing a )")
		}
		return rest[1:], nil
	}
	var err error
	if s, err = markerValue(s); err != nil {
		return s, err
	}
	s = strings.TrimLeft(s, requirementSp)
	op := markerOpRe.FindString(s)
	if op == "" {
		return s, fmt.Errorf("needs a comparison (==, !=, <, >=, in, not in ...) at %q", s)
	}
	return markerValue(strings.TrimLeft(s[len(op):], requirementSp))
}

func markerValue(s string) (string, error) {
	if v := markerVarRe.FindString(s); v != "" {
		return s[len(v):], nil
	}
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		if end := strings.IndexByte(s[1:], s[0]); end >= 0 {
			return s[end+2:], nil
		}
		return s, fmt.Errorf("has an unclosed string")
	}
	return s, fmt.Errorf("has %q where a marker variable (python_version, sys_platform ...) or a quoted string belongs", firstWord(s))
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}
