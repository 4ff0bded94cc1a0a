package main

import (
	"testing"
	"time"
)

func TestParseFrontend(t *testing.T) {
	f, err := parseFrontend("name=controlplane;listen=172.31.213.1:18443;url=https://172.31.213.1:18443;" +
		"backend=h2c://127.0.0.1:18444;invoker=user:dev@runsock.dev,domain:example.com,serviceAccount:1-compute@developer.gserviceaccount.com;" +
		"audience=cp;timeout=20s;concurrency=5;queue=1s;max-http1-body=1024")
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if f.listen != "172.31.213.1:18443" || c.Name != "controlplane" || c.Backend != "h2c://127.0.0.1:18444" ||
		len(c.Invokers) != 3 || len(c.URLs) != 1 || len(c.Audiences) != 1 || c.RequestTimeout != 20*time.Second ||
		c.Concurrency != 5 || c.QueueTimeout != time.Second || c.MaxHTTP1Body != 1024 {
		t.Errorf("parsed %+v", f)
	}
	for _, bad := range []string{"listen=:1", "name=x;listen=:1;timeout=soon", "name=x;listen=:1;concurrency=0", "name=x;listen=:1;oops"} {
		if _, err := parseFrontend(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseRelay("listen=:1;target=https://x"); err == nil {
		t.Error("relay without sa= accepted")
	}
}
