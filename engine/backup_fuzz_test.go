package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadBackup feeds arbitrary manifests (with a matching checksum, so the
// parser itself is exercised) to ReadBackup and VerifyChain: an error
// wrapping ErrBackup or a manifest that passed its checks, never a panic,
// and never a file read outside the backup.
func FuzzReadBackup(f *testing.F) {
	f.Add([]byte(`{"format":"engram-backup/v1","id":"a","kind":"full","chain":["a"],"data_format":2,"pebble_format":24,"files":[{"name":"000001.log","size":3,"sha256":"` + hex.EncodeToString(make([]byte, 32)) + `","in":"a"}]}`))
	f.Add([]byte(`{"format":"engram-backup/v1","id":"b","kind":"incremental","parent":"a","chain":["a","b"],"data_format":2,"pebble_format":24,"files":[{"name":"../../etc/passwd","size":1,"sha256":"x","in":"a"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		sum := sha256.Sum256(b)
		os.WriteFile(filepath.Join(dir, backupManifestName), b, 0o644)
		os.WriteFile(filepath.Join(dir, backupSumName), []byte(hex.EncodeToString(sum[:])+"  manifest.json\n"), 0o644)
		m, err := ReadBackup(dir)
		if err != nil {
			if !errors.Is(err, ErrBackup) {
				t.Fatalf("error does not wrap ErrBackup: %v", err)
			}
			return
		}
		for _, fl := range m.Files {
			if fl.Name != filepath.Base(fl.Name) || fl.Name == ".." {
				t.Fatalf("accepted file name %q", fl.Name)
			}
		}
		if _, err := VerifyChain(ctx, []string{dir}); err != nil && !errors.Is(err, ErrBackup) {
			t.Fatalf("VerifyChain error does not wrap ErrBackup: %v", err)
		}
	})
}
