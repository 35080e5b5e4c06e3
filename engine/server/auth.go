package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// KeyPrefix starts every API key, as in Engram: engram_key_<id>_<secret>,
// where id and secret are alphanumeric.
const KeyPrefix = "engram_key_"

// Key is one API key: its id, a digest of its secret and the memory spaces
// it may use (nil: every space).
type Key struct {
	ID     string
	digest [32]byte
	Spaces map[string]bool
}

// Allows reports whether the key may use memory space sp.
func (k *Key) Allows(sp string) bool { return k == nil || k.Spaces == nil || k.Spaces[sp] }

// KeySet is the set of valid API keys. The nil or empty set means
// authentication is off. Safe for concurrent use (read-only once parsed).
type KeySet struct {
	byID map[string]*Key
}

// Enabled reports whether any key is configured.
func (ks *KeySet) Enabled() bool { return ks != nil && len(ks.byID) > 0 }

// Len returns the number of keys.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.byID)
}

// ParseKeys reads an API key file: one key per line,
//
//	engram_key_<id>_<secret> [space,space,...]
//
// with an optional comma-separated list of the memory spaces the key may use
// (none or "*": all). Blank lines and lines starting with # are ignored,
// and so is the rest of a line from a word starting with #.
// Errors name the file and line. name is used in messages only.
func ParseKeys(name string, data []byte) (*KeySet, error) {
	ks := &KeySet{byID: map[string]*Key{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		for i, f := range fields {
			if f[0] == '#' {
				fields = fields[:i] // a comment after the key
				break
			}
		}
		if len(fields) > 2 {
			return nil, fmt.Errorf("%s:%d: want \"KEY [space,space,...]\", got %d fields", name, line, len(fields))
		}
		id, secret, err := splitKey(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if _, dup := ks.byID[id]; dup {
			return nil, fmt.Errorf("%s:%d: key id %q appears twice", name, line, id)
		}
		k := &Key{ID: id, digest: sha256.Sum256([]byte(secret))}
		if len(fields) == 2 && fields[1] != "*" {
			k.Spaces = map[string]bool{}
			for _, sp := range strings.Split(fields[1], ",") {
				if !engineValidSpace(sp) {
					return nil, fmt.Errorf("%s:%d: space %q: must be 3-64 characters from [a-z0-9_-]", name, line, clip(sp))
				}
				k.Spaces[sp] = true
			}
		}
		ks.byID[id] = k
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(ks.byID) == 0 {
		return nil, fmt.Errorf("%s: no keys (want lines \"%s<id>_<secret>\")", name, KeyPrefix)
	}
	return ks, nil
}

// splitKey splits engram_key_<id>_<secret>.
func splitKey(k string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(k, KeyPrefix)
	if !ok {
		return "", "", fmt.Errorf("key must start with %q", KeyPrefix)
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" || !alnum(id) || !alnum(secret) {
		return "", "", fmt.Errorf("key must be %s<id>_<secret> with alphanumeric id and secret", KeyPrefix)
	}
	return id, secret, nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// authenticate checks an Authorization header value.
func (ks *KeySet) authenticate(header string) (*Key, *APIError) {
	if header == "" {
		return nil, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: "Authorization", Message: "Authorization: missing; send Bearer " + KeyPrefix + "<id>_<secret>"}
	}
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return nil, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: "Authorization", Message: "Authorization: want the Bearer scheme"}
	}
	id, secret, err := splitKey(strings.TrimSpace(tok))
	if err != nil {
		return nil, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: "Authorization", Message: "Authorization: " + err.Error()}
	}
	k := ks.byID[id]
	d := sha256.Sum256([]byte(secret))
	if k == nil || subtle.ConstantTimeCompare(d[:], k.digest[:]) != 1 {
		return nil, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Field: "Authorization", Message: "Authorization: invalid API key"}
	}
	return k, nil
}

type keyCtx struct{}

func withKey(ctx context.Context, k *Key) context.Context { return context.WithValue(ctx, keyCtx{}, k) }

func keyOf(ctx context.Context) *Key {
	k, _ := ctx.Value(keyCtx{}).(*Key)
	return k
}
