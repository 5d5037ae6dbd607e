package osfs

import (
	"os" // the one OS import under wal/: this package is the real disk behind wal.FS; node, wal and the simulator never reach it
	"path/filepath"
	"sort"

	"github.com/ketch-dev/ketch/wal"
)

// New returns the OS file system. Names are slash-separated and converted with
// filepath.FromSlash.
func New() wal.FS { return osFS{} }

type osFS struct{}

func native(name string) string { return filepath.FromSlash(name) }

func (osFS) Create(name string) (wal.File, error) {
	// O_APPEND makes every Write land at the end, as wal.File promises.
	f, err := os.OpenFile(native(name), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return file{f}, nil
}

func (osFS) Open(name string) (wal.File, error) {
	f, err := os.OpenFile(native(name), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return file{f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(native(name)) }

func (osFS) Rename(oldname, newname string) error {
	return os.Rename(native(oldname), native(newname))
}

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(native(dir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(native(dir), 0o755) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(native(dir))
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

type file struct{ f *os.File }

func (f file) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }
func (f file) Write(p []byte) (int, error)             { return f.f.Write(p) }
func (f file) Sync() error                             { return f.f.Sync() }
func (f file) Truncate(size int64) error               { return f.f.Truncate(size) }
func (f file) Close() error                            { return f.f.Close() }

func (f file) Size() (int64, error) {
	st, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
