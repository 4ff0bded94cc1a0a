# What the control plane's Firestore queries and retention need beyond Firestore's automatic single-field indexes
# (controlplane/internal/store NeededSchema; infracheck holds the two together). The emulator enforces none of it.

# `docker events` for one user: owner ==, a time range, ordered by time (store.ListEvents). Without it Firestore
# refuses the query; an admin's events (every owner) use the automatic index on time.
resource "google_firestore_index" "events_by_owner_and_time" {
  database   = google_firestore_database.runsock.name
  collection = "events"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "time"
    order      = "ASCENDING"
  }
}

# Events expire: each carries expireAt (its time plus store.EventRetention, a week), and Firestore's TTL policy
# deletes it after that, usually within a day. The field is never queried, so it is not indexed either.
resource "google_firestore_field" "events_expire_at" {
  database   = google_firestore_database.runsock.name
  collection = "events"
  field      = "expireAt"

  ttl_config {}
  index_config {}
}
