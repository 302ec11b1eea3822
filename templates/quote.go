package templates

import (
	"errors"
	"strings"
)

// ErrNUL is returned by Quote for a value holding a NUL byte, which no shell
// word can carry.
var ErrNUL = errors.New("value holds a NUL byte, which cannot be passed to a shell")

// Quote returns s as one POSIX shell word that every sh (dash, bash, ksh,
// zsh in sh mode) reads back as exactly the bytes of s, with nothing
// expanded. It is the only function that turns a value into shell text.
func Quote(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", ErrNUL
	}
	if s != "" && strings.Trim(s, safeChars) == "" {
		return s, nil
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

// safeChars never need quoting in any POSIX shell position we generate.
const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@%+,"

// QuoteAll quotes each value and joins them with spaces.
func QuoteAll(vals []string) (string, error) {
	words := make([]string, len(vals))
	for i, v := range vals {
		q, err := Quote(v)
		if err != nil {
			return "", err
		}
		words[i] = q
	}
	return strings.Join(words, " "), nil
}
