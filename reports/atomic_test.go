package reports

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Output files are replaced whole, links are followed, and a path that is
// not a regular file (a device, a pipe) is written in place: renaming over
// /dev/null as root would replace the device with a file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("regular file", func(t *testing.T) {
		p := filepath.Join(dir, "r.json")
		if err := os.WriteFile(p, []byte("old, and longer than the new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(p, write("new")); err != nil {
			t.Fatal(err)
		}
		if got := read(p); got != "new" {
			t.Errorf("content %q", got)
		}
		if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
			t.Errorf("temporary file left: %v", err)
		}
	})

	t.Run("failed write keeps the old file", func(t *testing.T) {
		p := filepath.Join(dir, "keep.json")
		os.WriteFile(p, []byte("old"), 0o644)
		err := WriteFileAtomic(p, func(w io.Writer) error { io.WriteString(w, "half"); return errors.New("boom") })
		if err == nil || read(p) != "old" {
			t.Errorf("err %v, content %q", err, read(p))
		}
		if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
			t.Errorf("temporary file left: %v", err)
		}
	})

	t.Run("symbolic link", func(t *testing.T) {
		target := filepath.Join(dir, "target.json")
		link := filepath.Join(dir, "link.json")
		os.WriteFile(target, []byte("old"), 0o644)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := WriteFileAtomic(link, write("new")); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link was replaced: %v %v", st.Mode(), err)
		}
		if got := read(target); got != "new" {
			t.Errorf("target content %q", got)
		}
	})

	t.Run("named pipe", func(t *testing.T) {
		p := filepath.Join(dir, "pipe")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		got := make(chan string, 1)
		go func() {
			f, err := os.Open(p)
			if err != nil {
				got <- err.Error()
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- string(b)
		}()
		if err := WriteFileAtomic(p, write("through the pipe")); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "through the pipe" {
			t.Errorf("the reader got %q", s)
		}
		if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("the pipe was replaced: %v %v", st.Mode(), err)
		}
	})

	t.Run("directory", func(t *testing.T) {
		if err := WriteFileAtomic(dir, write("x")); err == nil {
			t.Error("wrote over a directory")
		}
	})
}
