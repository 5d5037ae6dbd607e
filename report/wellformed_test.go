package report

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// voidElements never have content or an end tag in HTML.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

var (
	entity   = regexp.MustCompile(`^&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);`)
	tagName  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*`)
	attrName = regexp.MustCompile(`^[a-zA-Z_:][-a-zA-Z0-9_:.]*`)
)

// wellFormed is a strict check of the HTML this package writes (the
// project takes no HTML parser as a dependency): one html root; every
// element closed in order (void elements never, "/>" only for void
// elements and inside svg); attribute values quoted, with no '<' and only
// valid character references; text with no stray '<' or '&'; script and
// style raw to their end tags.
func wellFormed(s string) error {
	var stack []string
	inSVG := func() bool {
		for _, e := range stack {
			if e == "svg" {
				return true
			}
		}
		return false
	}
	roots := 0
	line := func(i int) int { return 1 + strings.Count(s[:i], "\n") }
	i := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == '&':
			if !entity.MatchString(s[i:]) {
				return fmt.Errorf("line %d: bare '&'", line(i))
			}
			i++
			continue
		case c != '<':
			i++
			continue
		}
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			j := strings.Index(rest, "-->")
			if j < 0 {
				return fmt.Errorf("line %d: comment never ends", line(i))
			}
			i += j + 3
			continue
		case len(rest) >= 9 && strings.EqualFold(rest[:9], "<!doctype"):
			if len(stack) > 0 || roots > 0 {
				return fmt.Errorf("line %d: doctype after the root", line(i))
			}
			j := strings.IndexByte(rest, '>')
			if j < 0 {
				return fmt.Errorf("line %d: doctype never ends", line(i))
			}
			i += j + 1
			continue
		case strings.HasPrefix(rest, "</"):
			name := tagName.FindString(rest[2:])
			j := strings.IndexByte(rest, '>')
			if name == "" || j != 2+len(name) {
				return fmt.Errorf("line %d: bad end tag %.20q", line(i), rest)
			}
			if len(stack) == 0 || stack[len(stack)-1] != name {
				return fmt.Errorf("line %d: </%s> closes %v", line(i), name, stack)
			}
			stack = stack[:len(stack)-1]
			i += j + 1
			continue
		}
		name := tagName.FindString(rest[1:])
		if name == "" {
			return fmt.Errorf("line %d: stray '<'", line(i))
		}
		j := 1 + len(name)
		selfClosed := false
		for {
			for j < len(rest) && strings.ContainsRune(" \t\n", rune(rest[j])) {
				j++
			}
			if j >= len(rest) {
				return fmt.Errorf("line %d: <%s never ends", line(i), name)
			}
			if rest[j] == '>' {
				j++
				break
			}
			if strings.HasPrefix(rest[j:], "/>") {
				selfClosed = true
				j += 2
				break
			}
			an := attrName.FindString(rest[j:])
			if an == "" {
				return fmt.Errorf("line %d: <%s: bad attribute at %.20q", line(i), name, rest[j:])
			}
			j += len(an)
			if j < len(rest) && rest[j] == '=' {
				j++
				if j >= len(rest) || (rest[j] != '"' && rest[j] != '\'') {
					return fmt.Errorf("line %d: <%s %s=: value not quoted", line(i), name, an)
				}
				q := rest[j]
				k := strings.IndexByte(rest[j+1:], q)
				if k < 0 {
					return fmt.Errorf("line %d: <%s %s=: value never ends", line(i), name, an)
				}
				v := rest[j+1 : j+1+k]
				if strings.ContainsRune(v, '<') {
					return fmt.Errorf("line %d: <%s %s=: '<' in a value", line(i), name, an)
				}
				for a := strings.IndexByte(v, '&'); a >= 0; a = strings.IndexByte(v, '&') {
					if !entity.MatchString(v[a:]) {
						return fmt.Errorf("line %d: <%s %s=: bare '&' in a value", line(i), name, an)
					}
					v = v[a+1:]
				}
				j += k + 2
			}
		}
		if len(stack) == 0 {
			roots++
			if roots > 1 || name != "html" {
				return fmt.Errorf("line %d: <%s> outside the html root", line(i), name)
			}
		}
		i += j
		switch {
		case voidElements[name]:
		case selfClosed && inSVG():
		case selfClosed:
			return fmt.Errorf("line %d: <%s/> is not an HTML void element", line(i), name)
		case name == "script" || name == "style":
			end := strings.Index(s[i:], "</"+name+">")
			if end < 0 {
				return fmt.Errorf("line %d: <%s> never ends", line(i), name)
			}
			i += end + len(name) + 3
		default:
			stack = append(stack, name)
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed elements at the end: %v", stack)
	}
	if roots != 1 {
		return fmt.Errorf("%d root elements", roots)
	}
	return nil
}

// TestWellFormedCatches: the check fails on each kind of breakage it is
// there to find.
func TestWellFormedCatches(t *testing.T) {
	good := `<!doctype html><html><head><meta charset="utf-8"><style>a<b</style></head><body><p>a &amp; b &#34;</p><svg><rect x="1"/></svg></body></html>`
	if err := wellFormed(good); err != nil {
		t.Fatalf("a well-formed page: %v", err)
	}
	bad := map[string]string{
		"unclosed":          `<html><body><p>x</body></html>`,
		"crossed":           `<html><b><i>x</b></i></html>`,
		"bare ampersand":    `<html>a & b</html>`,
		"lt in a value":     `<html><p title="a<b">x</p></html>`,
		"unquoted value":    `<html><p title=a>x</p></html>`,
		"self-closed p":     `<html><p/></html>`,
		"stray lt":          `<html>a < b</html>`,
		"two roots":         `<html></html><html></html>`,
		"no end":            `<html><p>x`,
		"amp in a value":    `<html><p title="a&b">x</p></html>`,
		"script never ends": `<html><script>x</html>`,
	}
	for what, s := range bad {
		if wellFormed(s) == nil {
			t.Errorf("%s: %q passed", what, s)
		}
	}
}
