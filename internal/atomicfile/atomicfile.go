// Package atomicfile replaces a file's contents so that a reader sees the
// old file or the new one, never a part, and a crash leaves one of them:
// the stores that keep what a sender learns (MTA-STS policies, unreachable
// addresses, TLS report counters) write their files through it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with b: a temporary file in the same directory,
// synced, renamed over path, and the directory synced so that the rename
// survives a crash. An existing file keeps its permissions; a new one is
// 0600 (what a store holds is no one else's business). On failure the
// temporary file is removed and path is left as it was.
func Write(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if fi, serr := os.Stat(path); serr == nil {
		err = tmp.Chmod(fi.Mode().Perm())
	}
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
