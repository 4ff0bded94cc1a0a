// Package status implements `localproxy status`: it checks, in order, that an identity token can be had, that the
// control plane answers /_ping over HTTP/2 (measuring the round trip), and that it accepts the token (/version), and
// prints what it found. Every failure names its cause and what to do: not logged in, expired or wrong-audience token,
// not an invoker (403), wrong URL, untrusted certificate. It runs no goroutines.
package status
