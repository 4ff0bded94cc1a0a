package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// benchFirestoreOps: Firestore operations per `docker run --rm`, read from the control plane's admin counter
// (GET /runsock/v1/debug/firestore: the container state store's document reads, writes and queries; the agent's
// live-log batches are not in it) before and after a batch of runs.
// It needs the dev stack's admin (RUNSOCK_DEV_ADMIN) and gcpsim's token endpoint; anything else running on the
// control plane meanwhile is counted too, so run it on a quiet stack.
func benchFirestoreOps(ctx context.Context, e *env) []row {
	name := "Firestore operations per `docker run --rm` (state store; live-log batches not counted)"
	counts, err := newOpsReader()
	if err == nil {
		var before, after map[string]int64
		if before, err = counts.read(ctx); err == nil {
			runs := max(e.n/2, 3)
			for i := 0; i < runs && err == nil; i++ {
				_, err = e.runsock.docker(ctx, "run", "--rm", "--label", e.runsock.label, e.runsock.image, "true")
			}
			if err == nil {
				if after, err = counts.read(ctx); err == nil {
					return []row{{name: name, runsock: perRun(before, after, runs),
						reference: failed(errNotApplicable), target: "counted and minimal"}}
				}
			}
		}
	}
	return []row{{name: name, runsock: failed(err), reference: failed(errNotApplicable), target: "counted and minimal"}}
}

// perRun is the per-run difference: the total, with each method in the note.
func perRun(before, after map[string]int64, runs int) figure {
	var total int64
	var parts []string
	for m, n := range after {
		d := n - before[m]
		if d == 0 {
			continue
		}
		total += d
		parts = append(parts, fmt.Sprintf("%s %.1f", m, float64(d)/float64(runs)))
	}
	slices.Sort(parts)
	return figure{samples: []float64{float64(total) / float64(runs)}, unit: "ops",
		note: fmt.Sprintf("%s; %d runs", strings.Join(parts, ", "), runs)}
}

// opsReader reads the counter as the dev stack's admin.
type opsReader struct {
	url, issuer, admin string
	http               *http.Client
}

func newOpsReader() (*opsReader, error) {
	r := &opsReader{url: os.Getenv("RUNSOCK_CONTROL_PLANE_URL"), issuer: os.Getenv("GCPSIM_ISSUER"), admin: os.Getenv("RUNSOCK_DEV_ADMIN")}
	if r.url == "" || r.issuer == "" || r.admin == "" {
		return nil, errors.New("needs RUNSOCK_CONTROL_PLANE_URL, GCPSIM_ISSUER and RUNSOCK_DEV_ADMIN from .dev/env")
	}
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(os.Getenv("RUNSOCK_DEV_CA")); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	r.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return r, nil
}

func (r *opsReader) get(ctx context.Context, u string, hdr http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, err
}

func (r *opsReader) read(ctx context.Context) (map[string]int64, error) {
	tok, err := r.get(ctx, r.issuer+"/gcpsim/v1/idtoken?email="+url.QueryEscape(r.admin)+"&audience="+url.QueryEscape(r.url), http.Header{})
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	b, err := r.get(ctx, r.url+"/runsock/v1/debug/firestore", http.Header{"X-Serverless-Authorization": {"Bearer " + strings.TrimSpace(string(tok))}})
	if err != nil {
		return nil, err
	}
	var m map[string]int64
	return m, json.Unmarshal(b, &m)
}
