package logging

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// MaxFilterLen is the longest filter Cloud Logging accepts.
const MaxFilterLen = 20000

// ErrInvalidFilter is wrapped by every error ParseFilter returns.
var ErrInvalidFilter = errors.New("invalid filter")

// Filter is a parsed Logging query. The zero and nil Filter match every entry.
type Filter struct {
	src  string
	root node
}

// String returns the filter as it was written.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// ParseFilter parses the subset of the Logging query language that gcloud and runsock use:
//
//	field OP value    OP one of = != > >= < <= : =~ !~ ; value a "quoted string" or a bare word
//	field:*           the field is present
//	field OP (v1 OR v2)  the same as field OP v1 OR field OP v2
//	a AND b, a b      (whitespace and newlines are an implicit AND)
//	a OR b            OR binds tighter than AND, as in Cloud Logging
//	NOT a, -a, ( ... )
//
// Fields: logName, resource.type, resource.labels.KEY, labels.KEY (KEY may be quoted, e.g.
// labels."run.googleapis.com/execution_name"), severity (compared by enum order; names or numbers), timestamp and
// receiveTimestamp (RFC 3339), insertId, textPayload, jsonPayload.PATH, trace, spanId. Global (field-less) search
// terms, functions and value lists are refused with an error wrapping ErrInvalidFilter. In quoted strings \" and \\
// are escapes, \n and \t are newline and tab, and any other backslash is kept, for regular expressions.
func ParseFilter(s string) (*Filter, error) {
	if len(s) > MaxFilterLen {
		return nil, fmt.Errorf("%w: filter is %d characters long; the limit is %d", ErrInvalidFilter, len(s), MaxFilterLen)
	}
	p := &parser{src: s}
	p.skipSpace()
	if p.eof() {
		return &Filter{src: s}, nil
	}
	root, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		return nil, p.errorf("unexpected %q", p.rest(10))
	}
	return &Filter{src: s, root: root}, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func (p *parser) rest(n int) string {
	r := p.src[p.pos:]
	if len(r) > n {
		r = r[:n] + "…"
	}
	return r
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at character %d: %s", ErrInvalidFilter, p.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// keyword consumes the upper-case keyword kw if it stands at the current position as a whole word.
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.src[p.pos:], kw) {
		return false
	}
	end := p.pos + len(kw)
	if end < len(p.src) && !isSpace(p.src[end]) && p.src[end] != '(' {
		return false
	}
	p.pos = end
	return true
}

// parseAnd parses a conjunction: OR-groups joined by AND or by whitespace.
func (p *parser) parseAnd() (node, error) {
	var terms []node
	for {
		p.skipSpace()
		if p.eof() || p.peek() == ')' {
			break
		}
		if len(terms) > 0 {
			p.keyword("AND")
			p.skipSpace()
		}
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	switch len(terms) {
	case 0:
		return nil, p.errorf("expected an expression")
	case 1:
		return terms[0], nil
	}
	return andNode(terms), nil
}

func (p *parser) parseOr() (node, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for {
		save := p.pos
		p.skipSpace()
		if !p.keyword("OR") {
			p.pos = save
			break
		}
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return orNode(terms), nil
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.keyword("NOT") {
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if p.peek() == '-' && p.pos+1 < len(p.src) && !isSpace(p.src[p.pos+1]) {
		p.pos++
		n, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (node, error) {
	p.skipSpace()
	switch {
	case p.eof():
		return nil, p.errorf("unexpected end of filter")
	case p.peek() == '(':
		p.pos++
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, p.errorf("expected ')'")
		}
		p.pos++
		return n, nil
	case p.peek() == ')':
		return nil, p.errorf("unexpected ')'")
	}
	for _, kw := range []string{"AND", "OR"} {
		if save := p.pos; p.keyword(kw) {
			p.pos = save
			return nil, p.errorf("%s needs an expression on each side", kw)
		}
	}
	return p.parseComparison()
}

func isIdentChar(c byte) bool {
	return c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte("_-/@$", c) >= 0)
}

// parsePath reads a field path such as resource.labels.job_name or labels."run.googleapis.com/task_index".
func (p *parser) parsePath() ([]string, error) {
	var segs []string
	for {
		switch {
		case p.peek() == '"':
			s, err := p.parseQuoted()
			if err != nil {
				return nil, err
			}
			segs = append(segs, s)
		case isIdentChar(p.peek()):
			start := p.pos
			for !p.eof() && isIdentChar(p.peek()) {
				p.pos++
			}
			segs = append(segs, p.src[start:p.pos])
		default:
			if p.eof() {
				return nil, p.errorf("unexpected end of filter")
			}
			return nil, p.errorf("expected a field name, found %q", p.rest(10))
		}
		if p.peek() != '.' {
			return segs, nil
		}
		p.pos++
	}
}

func (p *parser) parseQuoted() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.src[p.pos]
		p.pos++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.eof() {
				break
			}
			e := p.src[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '"', '\\':
				b.WriteByte(e)
			default:
				// Kept, so that regular expressions such as "exit\(3\)\.$" mean what they say.
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	p.pos = start
	return "", p.errorf("unterminated string")
}

var operators = []string{"!=", ">=", "<=", "=~", "!~", "=", ">", "<", ":"}

func (p *parser) parseComparison() (node, error) {
	start := p.pos
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	op := ""
	for _, o := range operators {
		if strings.HasPrefix(p.src[p.pos:], o) {
			op = o
			break
		}
	}
	if op == "" {
		p.pos = start
		return nil, p.errorf("global search terms are not supported; write FIELD OPERATOR VALUE (found %q)", p.rest(20))
	}
	p.pos += len(op)
	p.skipSpace()
	var value string
	quoted := p.peek() == '"'
	switch {
	case quoted:
		if value, err = p.parseQuoted(); err != nil {
			return nil, err
		}
	case p.peek() == '(':
		return p.parseValueList(path, op)
	default:
		vstart := p.pos
		for !p.eof() && !isSpace(p.peek()) && p.peek() != ')' {
			p.pos++
		}
		value = p.src[vstart:p.pos]
		if value == "" {
			return nil, p.errorf("expected a value after %q", op)
		}
	}
	c, err := newComparison(path, op, value, quoted)
	if err != nil {
		return nil, fmt.Errorf("%w: %s%s: %w", ErrInvalidFilter, strings.Join(path, "."), op, err)
	}
	return c, nil
}

// parseValueList parses FIELD OP (v1 OR v2 ...), which means FIELD OP v1 OR FIELD OP v2 ...
func (p *parser) parseValueList(path []string, op string) (node, error) {
	p.pos++ // (
	var terms orNode
	for {
		p.skipSpace()
		if len(terms) > 0 {
			if p.peek() == ')' {
				p.pos++
				return terms, nil
			}
			if !p.keyword("OR") {
				return nil, p.errorf("a value list takes values joined by OR, e.g. severity=(ERROR OR WARNING)")
			}
			p.skipSpace()
		}
		var value string
		quoted := p.peek() == '"'
		if quoted {
			v, err := p.parseQuoted()
			if err != nil {
				return nil, err
			}
			value = v
		} else {
			start := p.pos
			for !p.eof() && !isSpace(p.peek()) && p.peek() != ')' && p.peek() != '(' {
				p.pos++
			}
			value = p.src[start:p.pos]
		}
		if value == "" && !quoted {
			return nil, p.errorf("expected a value in the list")
		}
		c, err := newComparison(path, op, value, quoted)
		if err != nil {
			return nil, fmt.Errorf("%w: %s%s: %w", ErrInvalidFilter, strings.Join(path, "."), op, err)
		}
		terms = append(terms, c)
	}
}

// node is one term of a parsed filter.
type node interface {
	match(e *entryView) bool
}

type andNode []node

func (n andNode) match(e *entryView) bool {
	for _, t := range n {
		if !t.match(e) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) match(e *entryView) bool {
	for _, t := range n {
		if t.match(e) {
			return true
		}
	}
	return false
}

type notNode struct{ n node }

func (n notNode) match(e *entryView) bool { return !n.n.match(e) }

// compileRegexp compiles an RE2 expression for =~ and !~.
func compileRegexp(v string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(v)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %w", err)
	}
	return re, nil
}
