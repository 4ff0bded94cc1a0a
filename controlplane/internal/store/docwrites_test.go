package store

import (
	"testing"
	"time"
)

func TestDocWritesPeak(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := newDocWrites(func() time.Time { return now })
	const prefix = "projects/p/databases/(default)/documents/"
	for range 30 { // one write a second for 30 s
		w.record([]string{prefix + "livelogs/a"})
		now = now.Add(time.Second)
	}
	for range 25 { // a burst of 25 within one second
		w.record([]string{prefix + "livelogs/b"})
		now = now.Add(10 * time.Millisecond)
	}
	now = now.Add(time.Minute)
	w.record([]string{prefix + "containers/c", prefix + "livelogs/b"})
	got := w.top("livelogs/", 0)
	if len(got) != 2 || got[0].Path != "livelogs/b" || got[0].Writes != 26 || got[0].Peak != 2.5 ||
		got[1].Path != "livelogs/a" || got[1].Writes != 30 || got[1].Peak != 1 {
		t.Errorf("top = %+v", got)
	}
	if all := w.top("", 1); len(all) != 1 {
		t.Errorf("limit 1 gave %d", len(all))
	}
}

func TestDocWritesBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := newDocWrites(func() time.Time { return now })
	for i := range maxTrackedDocs + 10 {
		now = now.Add(time.Millisecond)
		w.record([]string{"d/" + string(rune('a'+i%26)) + time.Duration(i).String()})
	}
	if n := len(w.docs); n > maxTrackedDocs {
		t.Errorf("%d documents tracked, more than %d", n, maxTrackedDocs)
	}
}
