// Package inputfile reads the files a user names to senv (requirements
// files, pyproject.toml, environment.yml, locks, config files) with bounds:
// only regular files, at most a given size, and TOML at most a given
// nesting depth before any TOML parser sees it. A FIFO, a device, /proc or
// /dev/zero behind a name or a symlink is refused at once instead of hanging
// or filling memory.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is returned for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// TooLargeError is returned for a file over the size bound.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes", e.Path, e.Limit)
}

// Read returns the contents of the regular file at path (symlinks are
// followed), refusing anything else and anything larger than limit bytes.
// It never blocks on a FIFO: the file is opened non-blocking and checked
// with fstat before it is read. A missing file is an error satisfying
// os.IsNotExist.
func Read(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(info.Mode()))}
	}
	if info.Size() > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	// the size can grow between stat and read: read one byte past the limit
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return data, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// MaxTOMLDepth is the deepest nesting of arrays and inline tables CheckTOML
// allows. Real files nest three or four levels; the TOML parser's memory
// grows with the square of the depth.
const MaxTOMLDepth = 32

// CheckTOML refuses TOML text that nests arrays or inline tables deeper
// than MaxTOMLDepth, so that a hostile file cannot make the parser use
// gigabytes. It tracks strings and comments well enough not to count
// brackets inside them; it does not validate anything else.
func CheckTOML(data []byte) error {
	depth, line := 0, 1
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			line++
		case '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
			i--
		case '"', '\'':
			end, lines, ok := skipString(data, i)
			if !ok {
				return nil // unterminated: the parser reports it
			}
			i, line = end, line+lines
		case '[', '{':
			if depth++; depth > MaxTOMLDepth {
				return fmt.Errorf("line %d: arrays and tables nested more than %d deep", line, MaxTOMLDepth)
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// skipString returns the index of the last byte of the string starting at
// data[i], and how many newlines it holds.
func skipString(data []byte, i int) (end, lines int, ok bool) {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if multi {
		i += 3
	} else {
		i++
	}
	for ; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '\\' && q == '"':
			i++
		case c == '\n':
			if !multi {
				return i, lines, false
			}
			lines++
		case c == q && !multi:
			return i, lines, true
		case c == q && i+2 < len(data) && data[i+1] == q && data[i+2] == q:
			// up to two more quotes may close a multi-line string
			j := i + 3
			for n := 0; n < 2 && j < len(data) && data[j] == q; n++ {
				j++
			}
			return j - 1, lines, true
		}
	}
	return i, lines, false
}
