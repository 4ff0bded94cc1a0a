package store

// Schema is what the store's queries and retention need of the Firestore database beyond what Firestore does
// unasked (a single-field index on every field): the emulator enforces none of it, Google does. The Terraform
// declares it (infra/firestore.tf) and infra/infracheck holds the two together.
type Schema struct {
	Indexes []Index
	TTLs    []TTL
}

// Index is a composite index: a collection's fields, in order.
type Index struct {
	Collection string
	Fields     []IndexField
}

// IndexField is one field of an index; Order is "ASCENDING" or "DESCENDING", as Terraform spells it.
type IndexField struct {
	Path  string
	Order string
}

// TTL is a field whose timestamp ends its document (a TTL policy).
type TTL struct {
	Collection string
	Field      string
}

// NeededSchema is the store's Schema.
func NeededSchema() Schema {
	return Schema{
		// ListEvents for one owner: owner ==, time range, ordered by time.
		Indexes: []Index{{Collection: colEvents, Fields: []IndexField{{fieldOwner, "ASCENDING"}, {fieldTime, "ASCENDING"}}}},
		// AddEvent: events expire (EventRetention).
		TTLs: []TTL{{Collection: colEvents, Field: fieldExpireAt}},
	}
}
