package config

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// expandNode replaces ${VAR}, ${VAR:-default} and ${VAR:?message} in scalar
// values. Expansion happens after parsing, on values only, so a secret that
// contains '#' or ': ' cannot change the structure of the file.
func expandNode(n *yaml.Node, lookup func(string) (string, bool), report func(line int, msg string)) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode, yaml.MappingNode:
		for i, c := range n.Content {
			// Keys are not expanded.
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue
			}
			expandNode(c, lookup, report)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		v, err := expand(n.Value, lookup)
		if err != "" {
			report(n.Line, err)
			return
		}
		n.Value = v
		// A plain ${N} must resolve as whatever the value now looks like
		// (an int for max_quantity, say), not stay a string.
		if n.Style == 0 {
			n.Tag = ""
		}
	}
}

func expand(s string, lookup func(string) (string, bool)) (string, string) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", "unterminated ${ in " + quote(s)
		}
		expr := s[i+2 : i+j]
		s = s[i+j+1:]
		name, def, mode := expr, "", ""
		if k := strings.Index(expr, ":-"); k >= 0 {
			name, def, mode = expr[:k], expr[k+2:], "default"
		} else if k := strings.Index(expr, ":?"); k >= 0 {
			name, def, mode = expr[:k], expr[k+2:], "required"
		}
		if !validEnvName(name) {
			return "", "invalid variable name " + quote(name) + " in ${...}"
		}
		val, ok := lookup(name)
		switch {
		case ok && val != "":
			b.WriteString(val)
		case mode == "default":
			b.WriteString(def)
		case mode == "required":
			msg := def
			if msg == "" {
				msg = "is required"
			}
			return "", "environment variable " + name + " " + msg
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

func quote(s string) string { return "\"" + s + "\"" }
