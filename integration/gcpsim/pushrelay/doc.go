// Package pushrelay stands between the Pub/Sub emulator and a push endpoint behind gcpsim's front end, and does
// what the emulator leaves out: Google's Pub/Sub attaches `Authorization: Bearer <OIDC token>` of the subscription's
// push service account to every push (pushConfig.oidcToken; cloud-run-behaviour.md §7, google-front-door.md 5.5.6),
// while the gcloud Pub/Sub emulator sends no token at all (it "does not support authentication"; public reports,
// e.g. quarkiverse/quarkus-google-cloud-services#1108), and could not sign with gcpsim's key anyway.
//
// The emulator's subscription pushes to the relay; the relay forwards each push, path and body unchanged, to the
// target with a fresh token for the push identity (aud = the target's scheme://host unless an audience is set, as
// `--push-auth-token-audience` should be, fact 5.5.7), and hands the endpoint's status back, so acks, nacks and
// redelivery stay the emulator's. It imports no other gcpsim package; the token comes from a func.
package pushrelay
