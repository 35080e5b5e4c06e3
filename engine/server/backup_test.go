package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engram-bench/engram-bench/engine"
)

// TestAdminBackup takes a full and an incremental backup over HTTP, lists
// them, and restores the chain the listing names.
func TestAdminBackup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	_, hs := newTestServer(t, Config{BackupDir: dir})
	remember := func(i int) {
		st, _, b := do(t, hs, call{method: "POST", path: "/api/v1/memories/remember", body: fmt.Sprintf(`{"id":"m%d","content":"memory %d","embedding":%s}`, i, i, vecJSON(vec(i)))})
		if st != http.StatusCreated {
			t.Fatalf("remember: %d %s", st, b)
		}
	}
	backup := func(body string) BackupResponse {
		t.Helper()
		st, _, b := do(t, hs, call{method: "POST", path: "/api/v1/admin/backup", body: body})
		if st != http.StatusCreated {
			t.Fatalf("backup %s: %d %s", body, st, b)
		}
		var r BackupResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 0; i < 20; i++ {
		remember(i)
	}
	full := backup("")
	for i := 20; i < 30; i++ {
		remember(i)
	}
	inc := backup(`{"mode":"incremental"}`)
	if full.Kind != "full" || inc.Kind != "incremental" || inc.Parent != full.ID || len(inc.RestoreFrom) != 2 || inc.RestoreFrom[0] != full.Dir {
		t.Fatalf("full %+v\nincremental %+v", full, inc)
	}
	if inc.Memories["default"] != 30 {
		t.Errorf("incremental counted %v memories", inc.Memories)
	}
	st, _, b := do(t, hs, call{method: "GET", path: "/api/v1/admin/backups"})
	var list BackupList
	if st != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list.Backups) != 2 || strings.Join(list.LatestChain, ",") != strings.Join(inc.RestoreFrom, ",") {
		t.Fatalf("list: %d %s", st, b)
	}
	target := filepath.Join(t.TempDir(), "restored")
	if _, err := engine.Restore(context.Background(), list.LatestChain, target); err != nil {
		t.Fatal(err)
	}
	r, err := engine.Open(target, engine.Options{Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := r.Count("default"); n != 30 {
		t.Errorf("restored %d memories, want 30", n)
	}
	_, _, metrics := do(t, hs, call{method: "GET", path: "/metrics/prometheus"})
	for _, want := range []string{`engramd_backups_total{kind="full",result="ok"} 1`, `engramd_backups_total{kind="incremental",result="ok"} 1`, "engramd_backup_last_success_timestamp_seconds ",
		// the backups wrote index snapshots
		"engramd_index_snapshot_last_timestamp_seconds ", `engramd_index_snapshots_total{result="failed"} 0`,
		`engramd_index_relinked_total{space="default"} `} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestAdminBackupErrors: every refusal is a 4xx/501 in the envelope naming
// what to do.
func TestAdminBackupErrors(t *testing.T) {
	keys, err := ParseKeys("keys.txt", []byte("engram_key_ops_s3cret\nengram_key_lim_other tenant_a\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, off := newTestServer(t, Config{})
	_, on := newTestServer(t, Config{BackupDir: filepath.Join(t.TempDir(), "b"), Keys: keys})
	ops := map[string]string{"Authorization": "Bearer engram_key_ops_s3cret"}
	const backups = "Online backups copy the live store"
	for _, tc := range []struct {
		name    string
		hs      bool // backups on
		c       call
		status  int
		code    string
		field   string
		want    string // in the message
		context string // in educational_context
	}{
		{"backups off", false, call{method: "POST", path: "/api/v1/admin/backup"}, 501, CodeNotImplemented, "", "--backup-dir", backups},
		{"listing with backups off", false, call{method: "GET", path: "/api/v1/admin/backups"}, 501, CodeNotImplemented, "", "--backup-dir", backups},
		{"no key", true, call{method: "POST", path: "/api/v1/admin/backup"}, 401, CodeUnauthorized, "Authorization", "missing", "API key"},
		{"a key limited to spaces", true, call{method: "POST", path: "/api/v1/admin/backup", header: map[string]string{"Authorization": "Bearer engram_key_lim_other"}}, 403, CodeForbidden, "", "every space", backups},
		{"a bad mode", true, call{method: "POST", path: "/api/v1/admin/backup", body: `{"mode":"bogus"}`, header: ops}, 400, CodeBadRequest, "mode", `mode: "bogus": must be full or incremental`, backups},
		{"malformed JSON", true, call{method: "POST", path: "/api/v1/admin/backup", body: `{"mode":`, header: ops}, 400, CodeBadRequest, "body", "malformed JSON", backups},
		{"an incremental with nothing to build on", true, call{method: "POST", path: "/api/v1/admin/backup", body: `{"mode":"incremental"}`, header: ops}, 409, CodeBackupRefused, "mode", "take a full backup first", backups},
		{"an unknown parent", true, call{method: "POST", path: "/api/v1/admin/backup", body: `{"mode":"incremental","parent":"nope"}`, header: ops}, 404, CodeResourceNotFound, "parent", "no complete backup", backups},
		{"a parent for a full backup", true, call{method: "POST", path: "/api/v1/admin/backup", body: `{"parent":"x"}`, header: ops}, 400, CodeBadRequest, "parent", "only an incremental", backups},
		{"a GET", true, call{method: "GET", path: "/api/v1/admin/backup", header: ops}, 405, CodeMethodNotAllowed, "", "POST", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := off
			if tc.hs {
				hs = on
			}
			st, _, b := do(t, hs, tc.c)
			var env envelope
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatalf("%d %s: not the envelope: %v", st, b, err)
			}
			e := env.Error
			if st != tc.status || e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Message, tc.want) || !strings.Contains(e.EducationalContext, tc.context) {
				t.Fatalf("%d %s, want %d %s field %q with %q, context %q", st, b, tc.status, tc.code, tc.field, tc.want, tc.context)
			}
			if strings.Contains(e.EducationalContext, "Memories need") {
				t.Errorf("a backup error explained as memory input: %s", e.EducationalContext)
			}
		})
	}
}
