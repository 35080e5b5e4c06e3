package http

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Target is one request of a targets file.
type Target struct {
	Method string
	URL    *url.URL
	// Header holds the target's headers in file order.
	Header [][2]string
	Body   []byte
}

// MaxTargets bounds a targets file (each target is kept as prebuilt bytes).
const MaxTargets = 100_000

// ParseTargets reads a targets file in vegeta's formats:
//
// The http format: targets separated by blank lines, each a request line
// "METHOD URL", then header lines "Name: value", then optionally "@path" (the
// body is that file's contents, read with readFile). Lines starting with #
// are comments.
//
//	GET http://127.0.0.1:8080/health
//
//	POST http://127.0.0.1:8080/api/v1/memories/remember
//	Content-Type: application/json
//	X-Memory-Space: default
//	@body.json
//
// The JSON format: one object per line,
// {"method":"GET","url":"http://…","header":{"Name":["value"]},"body":"<base64>"}.
// The first non-blank character chooses the format ('{' for JSON). Errors name
// the file, line and field; name is used in messages only.
func ParseTargets(name string, data []byte, readFile func(string) ([]byte, error)) ([]Target, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSONTargets(name, data)
	}
	var out []Target
	var cur *Target
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		trim := strings.TrimSpace(text)
		switch {
		case strings.HasPrefix(trim, "#"):
			continue
		case trim == "":
			flush()
			continue
		case cur == nil:
			method, rawURL, ok := strings.Cut(trim, " ")
			rawURL = strings.TrimSpace(rawURL)
			if !ok || rawURL == "" || strings.ContainsAny(rawURL, " \t") {
				return nil, fmt.Errorf("%s:%d: want \"METHOD URL\", got %q", name, line, clip(trim))
			}
			if !validToken(method) {
				return nil, fmt.Errorf("%s:%d: method %q: not an HTTP method token", name, line, clip(method))
			}
			u, err := parseURL(rawURL)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: url %q: %v", name, line, clip(rawURL), err)
			}
			if len(out) >= MaxTargets {
				return nil, fmt.Errorf("%s:%d: more than %d targets", name, line, MaxTargets)
			}
			cur = &Target{Method: method, URL: u}
		case strings.HasPrefix(trim, "@"):
			if cur.Body != nil {
				return nil, fmt.Errorf("%s:%d: a second body for one target", name, line)
			}
			path := strings.TrimSpace(trim[1:])
			if path == "" {
				return nil, fmt.Errorf("%s:%d: body: want @<file>", name, line)
			}
			if readFile == nil {
				return nil, fmt.Errorf("%s:%d: body file %s: no file access", name, line, path)
			}
			b, err := readFile(path)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: body file: %v", name, line, err)
			}
			cur.Body = b
		default:
			if cur.Body != nil {
				return nil, fmt.Errorf("%s:%d: header after the body line; separate targets with a blank line", name, line)
			}
			k, v, ok := strings.Cut(text, ":")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || !validToken(k) {
				return nil, fmt.Errorf("%s:%d: header %q: want \"Name: value\" (or a blank line before the next target)", name, line, clip(text))
			}
			if err := checkHeaderValue(v); err != nil {
				return nil, fmt.Errorf("%s:%d: header %s: %v", name, line, k, err)
			}
			cur.Header = append(cur.Header, [2]string{k, v})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", name, line+1, err)
	}
	flush()
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no targets", name)
	}
	for i := range out {
		if err := checkHeaders(&out[i]); err != nil {
			return nil, fmt.Errorf("%s: target %d (%s %s): %v", name, i+1, out[i].Method, out[i].URL, err)
		}
	}
	return out, nil
}

type jsonTarget struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

func parseJSONTargets(name string, data []byte) ([]Target, error) {
	var out []Target
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var jt jsonTarget
		if err := json.Unmarshal(text, &jt); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if !validToken(jt.Method) {
			return nil, fmt.Errorf("%s:%d: method %q: not an HTTP method token", name, line, clip(jt.Method))
		}
		u, err := parseURL(jt.URL)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: url %q: %v", name, line, clip(jt.URL), err)
		}
		t := Target{Method: jt.Method, URL: u}
		if jt.Body != "" {
			if t.Body, err = base64.StdEncoding.DecodeString(jt.Body); err != nil {
				return nil, fmt.Errorf("%s:%d: body: not base64: %v", name, line, err)
			}
		}
		keys := make([]string, 0, len(jt.Header))
		for k := range jt.Header {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			if !validToken(k) {
				return nil, fmt.Errorf("%s:%d: header %q: not a header name", name, line, clip(k))
			}
			for _, v := range jt.Header[k] {
				if err := checkHeaderValue(v); err != nil {
					return nil, fmt.Errorf("%s:%d: header %s: %v", name, line, k, err)
				}
				t.Header = append(t.Header, [2]string{k, v})
			}
		}
		if err := checkHeaders(&t); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if len(out) >= MaxTargets {
			return nil, fmt.Errorf("%s:%d: more than %d targets", name, line, MaxTargets)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no targets", name)
	}
	return out, nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host")
	}
	if u.User != nil {
		return nil, fmt.Errorf("user info in URLs is not supported; send an Authorization header")
	}
	if _, err := strconv.Atoi(portOf(u)); err != nil {
		return nil, fmt.Errorf("port %q is not a number", portOf(u))
	}
	return u, nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// checkHeaders refuses headers the driver sets itself from the target.
func checkHeaders(t *Target) error {
	for _, h := range t.Header {
		switch strings.ToLower(h[0]) {
		case "content-length", "transfer-encoding":
			return fmt.Errorf("header %s: set from the body; leave it out", h[0])
		case "connection":
			if strings.EqualFold(h[1], "close") {
				return fmt.Errorf("header Connection: close defeats keep-alive; leave it out")
			}
		}
	}
	return nil
}

func checkHeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return fmt.Errorf("control character in value")
		}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (method, header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// wire renders the target as HTTP/1.1 request bytes.
func (t *Target) wire(userAgent string) []byte {
	var b bytes.Buffer
	uri := t.URL.RequestURI()
	b.WriteString(t.Method + " " + uri + " HTTP/1.1\r\n")
	hasHost, hasUA := false, false
	for _, h := range t.Header {
		switch strings.ToLower(h[0]) {
		case "host":
			hasHost = true
		case "user-agent":
			hasUA = true
		}
	}
	if !hasHost {
		b.WriteString("Host: " + t.URL.Host + "\r\n")
	}
	if !hasUA {
		b.WriteString("User-Agent: " + userAgent + "\r\n")
	}
	for _, h := range t.Header {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if len(t.Body) > 0 || t.Method == "POST" || t.Method == "PUT" || t.Method == "PATCH" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(t.Body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(t.Body)
	return b.Bytes()
}
