package main

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// blockTags end a line of text: paragraphs, headings, list items, table rows.
var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"tr": true, "table": true, "blockquote": true, "pre": true, "hr": true,
	"section": true, "article": true, "header": true, "footer": true,
	"dl": true, "dt": true, "dd": true, "figure": true, "figcaption": true,
}

// htmlToText turns a Shopify Body (HTML) into the plain text Stripe's
// description wants: tags dropped (script and style with their content),
// entities decoded (&nbsp;, &#8217; ...), every Unicode space (NBSP, U+2028,
// ideographic space) folded to one ASCII space, and block elements turned
// into line breaks; list items start with "- ". Empty lines are dropped. The
// result is cut to max characters (runes), never inside a UTF-8 sequence.
func htmlToText(s string, max int) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case tag == "script" || tag == "style" || tag == "template":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case blockTags[tag]:
				b.WriteByte('\n')
				if tag == "li" && tt == html.StartTagToken {
					b.WriteString("- ")
				}
			case tag == "td" || tag == "th":
				b.WriteByte(' ')
			}
		}
	}
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
		line = foldSpace(line)
		if line == "" || line == "-" {
			continue
		}
		out = append(out, line)
	}
	return truncateRunes(strings.Join(out, "\n"), max)
}

// foldSpace trims s and folds every run of Unicode white space (NBSP,
// U+2028, tabs, newlines ...) into one ASCII space.
func foldSpace(s string) string {
	if isPlain(s) {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// isPlain reports whether s is already folded: ASCII without leading,
// trailing or doubled spaces and without other white space.
func isPlain(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c < ' ' || c == ' ' && s[i+1] == ' ' {
			return false
		}
	}
	return true
}

// truncateRunes cuts s to at most max runes and trims trailing space.
func truncateRunes(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace)
		}
		n++
	}
	return s
}
