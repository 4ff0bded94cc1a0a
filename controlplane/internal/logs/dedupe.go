package logs

// dedupe remembers recently seen insertIds in two generations, so memory stays bounded on endless follows while
// the overlap between a List and a Tail (or a redialled Tail) is still caught.
type dedupe struct {
	cur, prev map[string]struct{}
	max       int
}

func newDedupe(max int) *dedupe {
	return &dedupe{cur: map[string]struct{}{}, prev: map[string]struct{}{}, max: max}
}

// first reports whether id is new, and records it. An empty id is always new.
func (d *dedupe) first(id string) bool {
	if id == "" {
		return true
	}
	if _, ok := d.cur[id]; ok {
		return false
	}
	if _, ok := d.prev[id]; ok {
		return false
	}
	if len(d.cur) >= d.max {
		d.prev, d.cur = d.cur, make(map[string]struct{}, d.max)
	}
	d.cur[id] = struct{}{}
	return true
}
