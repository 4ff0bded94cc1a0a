package logging

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	ltype "google.golang.org/genproto/googleapis/logging/type"
	"google.golang.org/protobuf/types/known/structpb"
)

// entryView is the entry a filter is evaluated against.
type entryView struct {
	e *loggingpb.LogEntry
}

type fieldKind int

const (
	kindString fieldKind = iota
	kindSeverity
	kindTime
)

// comparison is one FIELD OP VALUE term.
type comparison struct {
	kind    fieldKind
	str     func(*loggingpb.LogEntry) (string, bool)
	tm      func(*loggingpb.LogEntry) time.Time
	op      string
	value   string
	present bool // FIELD:*
	sev     ltype.LogSeverity
	t       time.Time
	num     float64
	isNum   bool
	re      *regexp.Regexp
}

func newComparison(path []string, op, value string, quoted bool) (*comparison, error) {
	c := &comparison{op: op, value: value}
	if err := c.resolveField(path); err != nil {
		return nil, err
	}
	if op == ":" && value == "*" && !quoted {
		c.present = true
		return c, nil
	}
	if op == "=~" || op == "!~" {
		re, err := compileRegexp(value)
		if err != nil {
			return nil, err
		}
		c.re = re
		return c, nil
	}
	switch c.kind {
	case kindSeverity:
		sev, err := parseSeverity(value)
		if err != nil {
			return nil, err
		}
		c.sev = sev
	case kindTime:
		t, err := parseTime(value)
		if err != nil {
			return nil, err
		}
		c.t = t
	default:
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			c.num, c.isNum = f, true
		}
	}
	return c, nil
}

func (c *comparison) resolveField(path []string) error {
	unknown := fmt.Errorf("unsupported field %q", strings.Join(path, "."))
	name, rest := path[0], path[1:]
	leaf := func(get func(*loggingpb.LogEntry) (string, bool)) error {
		if len(rest) != 0 {
			return unknown
		}
		c.str = get
		return nil
	}
	switch name {
	case "logName", "log_name":
		return leaf(func(e *loggingpb.LogEntry) (string, bool) { return e.GetLogName(), e.GetLogName() != "" })
	case "insertId", "insert_id":
		return leaf(func(e *loggingpb.LogEntry) (string, bool) { return e.GetInsertId(), e.GetInsertId() != "" })
	case "textPayload", "text_payload":
		return leaf(func(e *loggingpb.LogEntry) (string, bool) {
			_, ok := e.GetPayload().(*loggingpb.LogEntry_TextPayload)
			return e.GetTextPayload(), ok
		})
	case "trace":
		return leaf(func(e *loggingpb.LogEntry) (string, bool) { return e.GetTrace(), e.GetTrace() != "" })
	case "spanId", "span_id":
		return leaf(func(e *loggingpb.LogEntry) (string, bool) { return e.GetSpanId(), e.GetSpanId() != "" })
	case "severity":
		if len(rest) != 0 {
			return unknown
		}
		c.kind = kindSeverity
		return nil
	case "timestamp", "receiveTimestamp", "receive_timestamp":
		if len(rest) != 0 {
			return unknown
		}
		c.kind = kindTime
		if name == "timestamp" {
			c.tm = func(e *loggingpb.LogEntry) time.Time { return e.GetTimestamp().AsTime() }
		} else {
			c.tm = func(e *loggingpb.LogEntry) time.Time { return e.GetReceiveTimestamp().AsTime() }
		}
		return nil
	case "labels":
		if len(rest) != 1 {
			return unknown
		}
		key := rest[0]
		c.str = func(e *loggingpb.LogEntry) (string, bool) { v, ok := e.GetLabels()[key]; return v, ok }
		return nil
	case "resource":
		switch {
		case len(rest) == 1 && rest[0] == "type":
			c.str = func(e *loggingpb.LogEntry) (string, bool) { return e.GetResource().GetType(), e.GetResource() != nil }
			return nil
		case len(rest) == 2 && rest[0] == "labels":
			key := rest[1]
			c.str = func(e *loggingpb.LogEntry) (string, bool) { v, ok := e.GetResource().GetLabels()[key]; return v, ok }
			return nil
		}
		return unknown
	case "jsonPayload", "json_payload":
		c.str = func(e *loggingpb.LogEntry) (string, bool) { return jsonField(e.GetJsonPayload(), rest) }
		return nil
	}
	return unknown
}

// jsonField finds path in a jsonPayload and renders it as a string.
func jsonField(s *structpb.Struct, path []string) (string, bool) {
	if s == nil {
		return "", false
	}
	v := structpb.NewStructValue(s)
	for _, seg := range path {
		st := v.GetStructValue()
		if st == nil {
			return "", false
		}
		next, ok := st.GetFields()[seg]
		if !ok {
			return "", false
		}
		v = next
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue, true
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'g', -1, 64), true
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue), true
	case *structpb.Value_NullValue:
		return "", false
	}
	b, _ := json.Marshal(v.AsInterface())
	return string(b), true
}

func parseSeverity(v string) (ltype.LogSeverity, error) {
	if n, ok := ltype.LogSeverity_value[strings.ToUpper(v)]; ok {
		return ltype.LogSeverity(n), nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return ltype.LogSeverity(n), nil
	}
	return 0, fmt.Errorf("unknown severity %q (want DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT or EMERGENCY)", v)
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

func parseTime(v string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("timestamp must be RFC 3339, e.g. \"2025-01-15T15:48:06Z\"")
}

func (c *comparison) match(v *entryView) bool {
	e := v.e
	var (
		cmp int    // sign of field - value
		s   string // the field as text, for ':' and regexps
		ok  = true
	)
	switch c.kind {
	case kindSeverity:
		sev := e.GetSeverity()
		cmp, s = compareInts(int64(sev), int64(c.sev)), sev.String()
	case kindTime:
		t := c.tm(e)
		cmp, s = t.Compare(c.t), t.UTC().Format(time.RFC3339Nano)
	default:
		s, ok = c.str(e)
		cmp = c.compareString(s)
	}
	if c.present {
		return ok
	}
	if !ok {
		return c.op == "!=" || c.op == "!~"
	}
	switch c.op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case "=~":
		return c.re.MatchString(s)
	case "!~":
		return !c.re.MatchString(s)
	case ":":
		if c.kind != kindString {
			return cmp == 0
		}
		return strings.Contains(strings.ToLower(s), strings.ToLower(c.value))
	}
	return false
}

func (c *comparison) compareString(s string) int {
	if c.isNum {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			switch {
			case f < c.num:
				return -1
			case f > c.num:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(s, c.value)
}

func compareInts(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Match reports whether the entry satisfies the filter.
func (f *Filter) Match(e *loggingpb.LogEntry) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(&entryView{e: e})
}
