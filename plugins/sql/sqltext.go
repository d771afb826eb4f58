package main

import (
	"fmt"
	"strconv"
	"strings"
)

// This file understands just enough SQL text to find placeholders: it skips
// string literals, quoted identifiers, comments and (PostgreSQL) dollar-quoted
// bodies, so a ':name' or '?' inside them is left alone. Values are never
// spliced into SQL; placeholders become the driver's positional parameters and
// the values travel separately.

// span is a piece of a statement: code, or text the scanner must not touch.
type span struct {
	start, end int
	code       bool
}

// spans splits q into code and non-code (literal, quoted identifier,
// comment) pieces.
func spans(q string, pg bool) ([]span, error) {
	var out []span
	codeStart := 0
	emit := func(start, end int, code bool) {
		if end > start {
			out = append(out, span{start, end, code})
		}
	}
	i := 0
	for i < len(q) {
		c := q[i]
		var end int
		var err error
		switch {
		case c == '\'':
			escapes := pg && i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !isIdentByte(q[i-2]))
			end, err = closeQuote(q, i, '\'', escapes)
		case c == '"':
			end, err = closeQuote(q, i, '"', false)
		case c == '`' && !pg:
			end, err = closeQuote(q, i, '`', false)
		case c == '[' && !pg:
			end = strings.IndexByte(q[i:], ']')
			if end < 0 {
				err = fmt.Errorf("unterminated [identifier] at offset %d", i)
			} else {
				end += i + 1
			}
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end = strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q)
			} else {
				end += i
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end, err = closeBlockComment(q, i, pg)
		case c == '$' && pg && (i == 0 || !isIdentByte(q[i-1])):
			tag, ok := dollarTag(q, i)
			if !ok {
				i++
				continue
			}
			body := strings.Index(q[i+len(tag):], tag)
			if body < 0 {
				return nil, fmt.Errorf("unterminated dollar-quoted string %s at offset %d", tag, i)
			}
			end = i + len(tag) + body + len(tag)
		default:
			i++
			continue
		}
		if err != nil {
			return nil, err
		}
		emit(codeStart, i, true)
		emit(i, end, false)
		i, codeStart = end, end
	}
	emit(codeStart, len(q), true)
	return out, nil
}

func closeQuote(q string, i int, quote byte, backslash bool) (int, error) {
	for j := i + 1; j < len(q); j++ {
		switch q[j] {
		case '\\':
			if backslash {
				j++
			}
		case quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c-quoted text at offset %d", quote, i)
}

// closeBlockComment finds the end of a /* */ comment; PostgreSQL nests them.
func closeBlockComment(q string, i int, nest bool) (int, error) {
	depth := 0
	for j := i; j+1 < len(q); j++ {
		switch {
		case q[j] == '/' && q[j+1] == '*':
			if depth == 0 || nest {
				depth++
			}
			j++
		case q[j] == '*' && q[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unterminated /* comment at offset %d", i)
}

// dollarTag returns "$tag$" or "$$" starting at q[i], if it opens a
// dollar-quoted string. "$1" is a parameter, not a tag.
func dollarTag(q string, i int) (string, bool) {
	j := i + 1
	if j < len(q) && q[j] >= '0' && q[j] <= '9' {
		return "", false
	}
	for j < len(q) && isIdentByte(q[j]) {
		j++
	}
	if j < len(q) && q[j] == '$' {
		return q[i : j+1], true
	}
	return "", false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// parsed is a statement with its placeholders resolved for one driver.
type parsed struct {
	// SQL is the text the driver runs, with named placeholders replaced by
	// $n (PostgreSQL) or ?n (SQLite).
	SQL string
	// Names lists, per positional parameter, the name bound to it.
	Names []string
	// Named is true when the statement used :name placeholders; false when
	// it used the driver's own positional ones ($1, ?), or none.
	Named bool
	// Returning is true when the statement has a RETURNING clause.
	Returning bool
}

// parseStatement resolves the placeholders of q. Named placeholders
// (:session_id) are rewritten to the driver's positional form; a statement
// may instead use positional placeholders ($1 / ?) when it takes a single
// value (positional then names that value, e.g. "cursor"). Mixing both
// styles is an error, as is an unterminated literal or comment.
func parseStatement(q string, pg bool, positional string) (parsed, error) {
	sp, err := spans(q, pg)
	if err != nil {
		return parsed{}, err
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	index := map[string]int{}
	var names []string
	maxPos := 0
	nextBare := 0
	for _, s := range sp {
		text := q[s.start:s.end]
		if !s.code {
			b.WriteString(text)
			continue
		}
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case c == ':' && i+1 < len(text) && text[i+1] == ':':
				b.WriteString("::")
				i++
			case c == ':' && i+1 < len(text) && isIdentStart(text[i+1]) && (i == 0 || !isIdentByte(text[i-1])):
				j := i + 1
				for j < len(text) && isIdentByte(text[j]) {
					j++
				}
				name := text[i+1 : j]
				n, ok := index[name]
				if !ok {
					names = append(names, name)
					n = len(names)
					index[name] = n
				}
				if pg {
					b.WriteString("$" + strconv.Itoa(n))
				} else {
					b.WriteString("?" + strconv.Itoa(n))
				}
				i = j - 1
			case c == '$' && i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9' && (i == 0 || !isIdentByte(text[i-1])):
				j := i + 1
				for j < len(text) && text[j] >= '0' && text[j] <= '9' {
					j++
				}
				n, _ := strconv.Atoi(text[i+1 : j])
				maxPos = max(maxPos, n)
				nextBare = max(nextBare, n)
				b.WriteString(text[i:j])
				i = j - 1
			case c == '?' && !pg:
				j := i + 1
				for j < len(text) && text[j] >= '0' && text[j] <= '9' {
					j++
				}
				if j > i+1 {
					n, _ := strconv.Atoi(text[i+1 : j])
					maxPos = max(maxPos, n)
					nextBare = max(nextBare, n)
				} else {
					nextBare++
					maxPos = max(maxPos, nextBare)
				}
				b.WriteString(text[i:j])
				i = j - 1
			default:
				b.WriteByte(c)
			}
		}
	}
	p := parsed{SQL: b.String(), Named: len(names) > 0}
	for _, s := range sp {
		if s.code && hasWord(q[s.start:s.end], "returning") {
			p.Returning = true
		}
	}
	switch {
	case len(names) > 0 && maxPos > 0:
		return parsed{}, fmt.Errorf("mixes :name placeholders with positional ones ($1, ?); use :name only")
	case maxPos > 0 && positional == "":
		return parsed{}, fmt.Errorf("uses positional placeholders ($1, ?); this statement takes :name placeholders")
	case maxPos > 0:
		for i := 0; i < maxPos; i++ {
			names = append(names, positional)
		}
	}
	p.Names = names
	return p, nil
}

// hasWord reports whether code contains word as a whole SQL word,
// case-insensitively.
func hasWord(code, word string) bool {
	lower := strings.ToLower(code)
	for off := 0; ; {
		i := strings.Index(lower[off:], word)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(word)
		if (i == 0 || !isIdentByte(lower[i-1])) && (end == len(lower) || !isIdentByte(lower[end])) {
			return true
		}
		off = end
	}
}

// trimStatement drops a trailing semicolon (and whitespace), even one
// followed by a comment, so a query can be wrapped in a subquery.
func trimStatement(q string, pg bool) string {
	q = strings.TrimSpace(q)
	sp, err := spans(q, pg)
	if err != nil {
		return q
	}
	for i := len(sp) - 1; i >= 0; i-- {
		s := sp[i]
		if !s.code {
			if q[s.start] == '-' || q[s.start] == '/' {
				continue // trailing comment
			}
			return q
		}
		if strings.TrimSpace(q[s.start:s.end]) == "" {
			continue
		}
		code := strings.TrimRight(q[s.start:s.end], " \t\r\n;")
		if s.end < len(q) {
			code += " " // before a trailing comment
		}
		return q[:s.start] + code + q[s.end:]
	}
	return q
}
