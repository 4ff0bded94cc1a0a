package infracheck

import (
	"fmt"
	"strings"
)

// Firestore is what the control plane's queries and retention need of its database beyond Firestore's automatic
// single-field indexes (the JSON of store.NeededSchema): each must be declared in the module, since the emulator the
// tests run on enforces none of it and Google refuses a query whose index is missing.
type Firestore struct {
	Indexes []FirestoreIndex
	TTLs    []FirestoreTTL
}

// FirestoreIndex is a composite index: a collection's fields, in order.
type FirestoreIndex struct {
	Collection string
	Fields     []struct{ Path, Order string }
}

func (ix FirestoreIndex) String() string {
	var f []string
	for _, x := range ix.Fields {
		f = append(f, x.Path+" "+x.Order)
	}
	return ix.Collection + " (" + strings.Join(f, ", ") + ")"
}

// FirestoreTTL is a field whose timestamp ends its document.
type FirestoreTTL struct{ Collection, Field string }

// checkFirestore wants a google_firestore_index for each index (same collection, same fields in the same order)
// and a google_firestore_field with a ttl_config for each TTL.
func checkFirestore(m *Module, need Firestore) []string {
	var p []string
	for _, ix := range need.Indexes {
		if !m.hasIndex(ix) {
			p = append(p, fmt.Sprintf("firestore index %s: the control plane queries by it but no google_firestore_index declares it", ix))
		}
	}
	for _, ttl := range need.TTLs {
		if !m.hasTTL(ttl) {
			p = append(p, fmt.Sprintf("firestore TTL %s.%s: the control plane sets it but no google_firestore_field gives it a ttl_config", ttl.Collection, ttl.Field))
		}
	}
	return p
}

func (m *Module) hasIndex(ix FirestoreIndex) bool {
	for _, b := range m.Resources(func(t string) bool { return t == "google_firestore_index" }) {
		if c, _ := m.String(b.Body, "collection"); c != ix.Collection {
			continue
		}
		fields := nested(b.Body, "fields")
		if len(fields) != len(ix.Fields) {
			continue
		}
		same := true
		for i, f := range fields {
			path, _ := m.String(f.Body, "field_path")
			order, _ := m.String(f.Body, "order")
			same = same && path == ix.Fields[i].Path && order == ix.Fields[i].Order
		}
		if same {
			return true
		}
	}
	return false
}

func (m *Module) hasTTL(ttl FirestoreTTL) bool {
	for _, b := range m.Resources(func(t string) bool { return t == "google_firestore_field" }) {
		c, _ := m.String(b.Body, "collection")
		f, _ := m.String(b.Body, "field")
		if c == ttl.Collection && f == ttl.Field && len(nested(b.Body, "ttl_config")) > 0 {
			return true
		}
	}
	return false
}
