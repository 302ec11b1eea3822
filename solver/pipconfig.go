package solver

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// pip's configuration (pip.conf files and PIP_* variables, which site
// modules set: a wheelhouse as find-links, PIP_CONSTRAINT, only-binary)
// decides what pip resolves. uv does not read it, so for the uv manager senv
// asks pip what is in effect, with the spec's modules loaded, and passes
// each setting to uv as the option that means the same; a setting that
// changes resolution and has no uv equivalent is an error, never silently
// dropped.

// pipConfigLineRe is a line of `pip config list`: SCOPE.KEY='VALUE', where
// SCOPE is global, user, site or :env: (a PIP_* variable).
var pipConfigLineRe = regexp.MustCompile(`^(:env:|global|user|site|install)\.([a-z0-9-]+)='(.*)'$`)

// pipScopeRank orders pip's configuration scopes by precedence, as pip
// applies them: variables over site over user over global files.
var pipScopeRank = map[string]int{"global": 0, "user": 1, "site": 2, "install": 2, ":env:": 3}

// parsePipConfig reads `pip config list` output into the effective value of
// each key.
func parsePipConfig(out string) map[string]string {
	rank := map[string]int{}
	vals := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		m := pipConfigLineRe.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		if r, seen := rank[m[2]]; !seen || pipScopeRank[m[1]] >= r {
			rank[m[2]], vals[m[2]] = pipScopeRank[m[1]], m[3]
		}
	}
	return vals
}

// pipSettingsIgnored change nothing in what is resolved or installed.
var pipSettingsIgnored = map[string]bool{
	"disable-pip-version-check": true, "no-cache-dir": true, "cache-dir": true, "no-input": true, "quiet": true,
	"verbose": true, "progress-bar": true, "root-user-action": true, "break-system-packages": true, "user": true,
	"no-warn-script-location": true, "log": true, "retries": true, "no-color": true, "require-hashes": true,
	"require-virtualenv": true, "config-file": true, "isolated": true,
}

// uvFromPipConfig translates pip's effective configuration into uv
// options, and records the package sources in the lock (they are the
// lock's sources as much as #ENV's). l's own sources (#ENV, senv's config)
// win over pip's.
func uvFromPipConfig(l *Lock, cfg map[string]string) (args, env []string, err error) {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cfg[k]
		list := strings.Fields(v)
		switch k {
		case "index-url":
			if l.IndexURL == "" {
				l.IndexURL = v
			}
		case "extra-index-url":
			l.ExtraIndexURLs = appendNew(l.ExtraIndexURLs, list...)
		case "find-links":
			for _, f := range list {
				if !strings.Contains(f, "://") {
					if _, err := os.Stat(f); err != nil {
						continue // pip skips a missing find-links directory; uv would fail
					}
				}
				l.FindLinks = appendNew(l.FindLinks, f)
			}
		case "no-index":
			l.NoIndex = l.NoIndex || truthy(v)
		case "constraint":
			for _, c := range list {
				args = append(args, "--constraint", c)
			}
		case "only-binary", "no-binary":
			for _, b := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
				args = append(args, "--"+k, b)
			}
		case "pre":
			if truthy(v) {
				args = append(args, "--prerelease", "allow")
			}
		case "trusted-host":
			for _, h := range list {
				args = append(args, "--trusted-host", h)
			}
		case "cert":
			env = append(env, "SSL_CERT_FILE="+v)
		case "proxy":
			env = append(env, "HTTPS_PROXY="+v, "HTTP_PROXY="+v)
		case "timeout", "default-timeout":
			env = append(env, "UV_HTTP_TIMEOUT="+v)
		default:
			if !pipSettingsIgnored[k] {
				return nil, nil, fmt.Errorf("failed to solve with uv: pip's configuration sets %s = %q, which uv has no equivalent for (uv does not read pip's configuration; senv passes on what it can); use `#ENV manager venv` so that pip resolves", k, v)
			}
		}
	}
	return args, env, nil
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func appendNew(list []string, vals ...string) []string {
	for _, v := range vals {
		found := false
		for _, have := range list {
			found = found || have == v
		}
		if !found {
			list = append(list, v)
		}
	}
	return list
}

// pipConfigFor returns pip's effective configuration for the interpreter
// l.Python with the spec's modules loaded, or nil when that interpreter has
// no pip (then nothing of pip's applies to it either).
func pipConfigFor(ctx context.Context, l *Lock, r Runner) map[string]string {
	out, err := r.Output(ctx, PythonModule(l.Python, "pip", "config", "list")...)
	if err != nil {
		return nil
	}
	return parsePipConfig(string(out))
}
