package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// figure is one side's result for one row: a set of samples in unit, or the error that prevented measuring.
type figure struct {
	samples []float64
	unit    string // "ms", "MiB/s", "MiB", "ops"
	err     error
	note    string // shown after the value, e.g. "upper bound"
}

func durations(ds []time.Duration, err error) figure {
	f := figure{unit: "ms", err: err}
	for _, d := range ds {
		f.samples = append(f.samples, float64(d)/float64(time.Millisecond))
	}
	if len(f.samples) == 0 && f.err == nil {
		f.err = fmt.Errorf("no samples")
	}
	return f
}

func failed(err error) figure { return figure{err: err} }

func (f figure) ok() bool { return f.err == nil && len(f.samples) > 0 }

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1) of the samples.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(q*float64(len(s))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func (f figure) median() float64 { return quantile(f.samples, 0.5) }
func (f figure) p99() float64    { return quantile(f.samples, 0.99) }

// cell renders "median / p99 unit" (or the single value), or "n/a (error …)".
func (f figure) cell() string {
	if errors.Is(f.err, errNotApplicable) {
		return "—"
	}
	if !f.ok() {
		return "n/a (error: " + shortErr(f.err) + ")"
	}
	var s string
	if len(f.samples) == 1 {
		s = fmt.Sprintf("%s %s", num(f.samples[0]), f.unit)
	} else {
		s = fmt.Sprintf("%s / %s %s", num(f.median()), num(f.p99()), f.unit)
	}
	if f.note != "" {
		s += " (" + f.note + ")"
	}
	return s
}

func num(x float64) string {
	switch {
	case x >= 100 || x <= -100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10 || x <= -10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// shortErr keeps an error's first line, without characters that break a markdown table, and at most 90 runes.
func shortErr(err error) string {
	if err == nil {
		return "no samples"
	}
	s := strings.TrimSpace(err.Error())
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.NewReplacer("|", "/", "`", "'").Replace(s)
	if r := []rune(s); len(r) > 90 {
		s = string(r[:89]) + "…"
	}
	return s
}
