package main

import (
	"fmt"
	"strings"
)

// row is one line of the table; the ratio is always runsock's median / the reference's.
type row struct {
	name      string
	runsock   figure
	reference figure
	target    string
	judge     func(r row) (pass bool, ok bool) // nil: no target to judge
}

func (r row) ratio() string {
	if !r.runsock.ok() || !r.reference.ok() || r.reference.median() == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r.runsock.median()/r.reference.median())
}

func (r row) verdict() string {
	if r.judge == nil {
		return "—"
	}
	pass, ok := r.judge(r)
	switch {
	case !ok:
		return "n/a"
	case pass:
		return "pass"
	default:
		return "**fail**"
	}
}

// ratioAtMost passes when runsock's median is at most k times the reference's.
func ratioAtMost(k float64) func(row) (bool, bool) {
	return func(r row) (bool, bool) {
		if !r.runsock.ok() || !r.reference.ok() {
			return false, false
		}
		return r.runsock.median() <= k*r.reference.median(), true
	}
}

// ratioAtLeast passes when runsock's median is at least k times the reference's.
func ratioAtLeast(k float64) func(row) (bool, bool) {
	return func(r row) (bool, bool) {
		if !r.runsock.ok() || !r.reference.ok() {
			return false, false
		}
		return r.runsock.median() >= k*r.reference.median(), true
	}
}

// absolute passes when runsock's median is ≤ med and (if p99 > 0) its p99 ≤ p99.
func absolute(med, p99 float64) func(row) (bool, bool) {
	return func(r row) (bool, bool) {
		if !r.runsock.ok() {
			return false, false
		}
		return r.runsock.median() <= med && (p99 <= 0 || r.runsock.p99() <= p99), true
	}
}

func markdown(rows []row) string {
	var b strings.Builder
	b.WriteString("| measurement | runsock median / p99 | reference median / p99 | ratio | target | result |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.name, r.runsock.cell(), r.reference.cell(), r.ratio(),
			orDash(r.target), r.verdict())
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
