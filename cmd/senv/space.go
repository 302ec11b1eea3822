package main

import (
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// space is the headroom of one filesystem, from statfs: what an ordinary
// user may still use (Bavail, not Bfree: root's reserve is not ours).
type space struct {
	Free, Total           uint64 // bytes
	FreeInodes, AllInodes uint64 // 0 AllInodes: the filesystem does not count them (btrfs, some network filesystems)
}

// lowSpace is the share of space or inodes below which doctor warns.
const lowSpace = 0.05

// statSpace reads the headroom of the filesystem that holds dir.
func statSpace(dir string) (space, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return space{}, fmt.Errorf("failed to statfs %s: %w", dir, err)
	}
	bs := uint64(fs.Bsize)
	return space{Free: fs.Bavail * bs, Total: fs.Blocks * bs, FreeInodes: fs.Ffree, AllInodes: fs.Files}, nil
}

// String renders the headroom: "412.3G free of 1.0T (40%), 1200000 of
// 2000000 inodes free (60%)".
func (s space) String() string {
	out := fmt.Sprintf("%s free of %s (%s)", size(int64(s.Free)), size(int64(s.Total)), percent(s.Free, s.Total))
	if s.AllInodes == 0 {
		return out + ", inodes not counted by this filesystem"
	}
	return out + fmt.Sprintf(", %d of %d inodes free (%s)", s.FreeInodes, s.AllInodes, percent(s.FreeInodes, s.AllInodes))
}

// short says what is running out, or "".
func (s space) short() string {
	switch {
	case s.Total > 0 && float64(s.Free) < lowSpace*float64(s.Total):
		return "less than 5% of the space is free"
	case s.AllInodes > 0 && float64(s.FreeInodes) < lowSpace*float64(s.AllInodes):
		return "less than 5% of the inodes are free"
	}
	return ""
}

func percent(part, whole uint64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
}

// spaceLine prints doctor's line about the filesystem of dir: ok, or warn
// when it is short of space or inodes (a warning: jobs may still fit).
func spaceLine(w io.Writer, name, dir string) {
	s, err := statSpace(dir)
	switch {
	case err != nil:
		fmt.Fprintf(w, "warn  %-14s %v\n", name, err)
	case s.short() != "":
		fmt.Fprintf(w, "warn  %-14s %s: %s (free some with senv gc, or choose another dir)\n", name, s, s.short())
	default:
		fmt.Fprintf(w, "ok    %-14s %s\n", name, s)
	}
}
