package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.json")

	// A new file: its contents, mode 0600, no temporary file left.
	require.NoError(t, Write(path, []byte("one")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one", string(got))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a new file is the owner's alone")

	// An existing file keeps the permissions its operator gave it.
	require.NoError(t, os.Chmod(path, 0o640))
	require.NoError(t, Write(path, []byte("two")))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(got))
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the mode survives a rewrite")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")

	// A directory that does not exist: an error, nothing written.
	assert.Error(t, Write(filepath.Join(dir, "missing", "store.json"), []byte("x")))

	// A rename that cannot happen (path is a directory): the old contents
	// stay and the temporary file is removed.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(sub, "keep"), []byte("k"), 0o600))
	assert.Error(t, Write(sub, []byte("x")))
	entries, err = os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "the failed write left no temporary file")
}
