package shoptest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Volume is a small tmpfs mounted for one test, to make a service's disk fill up
// under it, as a real volume does.
type Volume struct {
	Dir string
	t   *testing.T
}

// MountVolume mounts a tmpfs of sizeKiB at a new temporary directory and unmounts it
// when the test ends (register the test's own cleanups, such as closing a database on
// it, after this call so that they run first). Mounting needs root: without it the
// test is skipped, or fails when CI=true.
func MountVolume(t *testing.T, sizeKiB int) *Volume {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeKiB)+"k,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		msg := "mount a tmpfs (needs root): " + err.Error() + ": " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return &Volume{Dir: dir, t: t}
}

// Fill writes a filler file until the volume is full (ENOSPC).
func (v *Volume) Fill() {
	v.t.Helper()
	f, err := os.Create(filepath.Join(v.Dir, "filler"))
	if err != nil {
		v.t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			v.t.Fatalf("fill the volume: %v", err)
		}
	}
}

// Free removes the filler file.
func (v *Volume) Free() {
	v.t.Helper()
	if err := os.Remove(filepath.Join(v.Dir, "filler")); err != nil {
		v.t.Fatal(err)
	}
}
