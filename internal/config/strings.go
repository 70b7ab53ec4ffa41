package config

import (
	"strconv"
	"strings"
)

func quote(s string) string { return strconv.Quote(s) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
