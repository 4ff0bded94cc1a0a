package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		line string
		want time.Time
		ok   bool
	}{
		{"T 1795863925 68901", time.Unix(1795863925, 68901000), true},
		{"T 1795863925 7", time.Unix(1795863925, 7000), true},
		{"hello", time.Time{}, false},
		{"T 17958 x", time.Time{}, false},
		{"T 1 2 3", time.Time{}, false},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, ok := parseStamp(tc.line)
			if ok != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("parseStamp(%q) = %v, %v; want %v, %v", tc.line, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// collectStamps measures from the stamp, skips history and warm-up, and says how many lines were missing.
func TestCollectStamps(t *testing.T) {
	now := time.Now()
	stamp := func(d time.Duration) string {
		s := now.Add(d)
		return "T " + itoa(s.Unix()) + " " + itoa(int64(s.Nanosecond()/1000)) + "\n"
	}
	var in strings.Builder
	in.WriteString(stamp(-time.Hour)) // history: before the stream opened
	for range 5 {
		in.WriteString(stamp(time.Second)) // warm-up
	}
	in.WriteString("noise\n")
	in.WriteString(stamp(time.Second))
	ds, err := collectStamps(t.Context(), func() {}, strings.NewReader(in.String()), 2)
	if len(ds) != 1 || ds[0] > 0 {
		t.Fatalf("got %v, want one sample (negative: stamped in the future)", ds)
	}
	if err == nil || !strings.Contains(err.Error(), "1 of 2 lines") {
		t.Fatalf("err = %v, want it to say 1 of 2 lines arrived", err)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
