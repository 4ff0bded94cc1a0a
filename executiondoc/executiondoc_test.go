package executiondoc

import (
	"testing"
	"time"
)

func TestBetterIsATotalOrder(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		o, cur Outcome
		want   bool
	}{
		{"more precise kind", Outcome{Kind: KindOOM, Time: at}, Outcome{Kind: KindSignal, Time: at.Add(time.Second)}, true},
		{"less precise kind", Outcome{Kind: KindSignal, Time: at.Add(time.Second)}, Outcome{Kind: KindExit, Time: at}, false},
		{"same kind, later", Outcome{Kind: KindExit, Time: at.Add(time.Second)}, Outcome{Kind: KindExit, Time: at}, true},
		{"same kind and time, higher insertId", Outcome{Kind: KindExit, Time: at, InsertID: "b"}, Outcome{Kind: KindExit, Time: at, InsertID: "a"}, true},
		{"itself", Outcome{Kind: KindExit, Time: at, InsertID: "a"}, Outcome{Kind: KindExit, Time: at, InsertID: "a"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.o.Better(c.cur); got != c.want {
				t.Errorf("Better = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDocID(t *testing.T) {
	for in, want := range map[string]string{
		"projects/p/locations/r/jobs/j/executions/j-abcde": "j-abcde",
		"j-abcde": "j-abcde",
	} {
		if got := DocID(in); got != want {
			t.Errorf("DocID(%q) = %q, want %q", in, got, want)
		}
	}
}
