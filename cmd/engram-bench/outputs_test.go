package main

import "testing"

func TestAutoScrapeURL(t *testing.T) {
	for _, tc := range []struct {
		name, target, want string
	}{
		{"none", "", ""},
		{"engramd", "http://127.0.0.1:7432", "http://127.0.0.1:7432/metrics/prometheus"},
		{"trailing slash", "https://engram.example:443/", "https://engram.example:443/metrics/prometheus"},
		{"redis host:port", "127.0.0.1:6379", ""},
		{"postgres url", "postgres://u@127.0.0.1:5432/db", ""},
		{"no host", "http://", ""},
		{"not a url", "http://[::1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := autoScrapeURL(tc.target, "/metrics/prometheus"); got != tc.want {
				t.Errorf("autoScrapeURL(%q) = %q, want %q", tc.target, got, tc.want)
			}
		})
	}
}
