package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/runsock/runsock/localproxy/internal/binds"
)

// serving reports whether a localproxy serves socket.
func serving(socket string) bool {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// syncBinds writes the changes of each named container's read-write binds back now: through the running
// localproxy on socket (bm nil), which holds the state, else with bm here.
func syncBinds(ctx context.Context, socket string, bm *binds.Manager, refs []string) error {
	if len(refs) == 0 {
		return errors.New("usage: localproxy sync CONTAINER...")
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	running := bm == nil
	var errs []error
	for _, ref := range refs {
		var rep binds.Report
		var err error
		if running {
			rep, err = syncThrough(ctx, hc, ref)
		} else {
			rep, err = bm.Sync(ctx, ref)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ref, err))
			continue
		}
		fmt.Printf("%s: %d written, %d deleted\n", ref, rep.Written, rep.Deleted)
		for _, c := range rep.Conflicts {
			fmt.Printf("%s: %s changed here too: kept; the container's version is %s%s\n", ref, c, c, binds.ConflictSuffix)
		}
	}
	return errors.Join(errs...)
}

func syncThrough(ctx context.Context, hc *http.Client, ref string) (binds.Report, error) {
	var rep binds.Report
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localproxy"+binds.LocalSyncPath+"?container="+url.QueryEscape(ref), nil)
	if err != nil {
		return rep, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&e)
		return rep, errors.New(e.Message)
	}
	return rep, json.NewDecoder(resp.Body).Decode(&rep)
}
