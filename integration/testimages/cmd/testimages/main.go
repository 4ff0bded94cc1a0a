// Command testimages builds runsock's test images from busybox-static and pushes them to gcpsim's registry or saves
// them as `docker load` tarballs.
//
//	gcloud-style-token | go run ./integration/testimages/cmd/testimages push --registry 127.0.0.1:18091 \
//	    --project runsock-dev --upstream 127.0.0.1:18094 --access-token-stdin
//	go run ./integration/testimages/cmd/testimages save --out DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/runsock/runsock/integration/testimages"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testimages:", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: testimages push [--registry HOST:PORT] [--project ID] [--upstream HOST:PORT] [--access-token-stdin] | testimages save --out DIR")
}

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "push":
		var d testimages.Destination
		fs.StringVar(&d.Registry, "registry", "127.0.0.1:18091", "Artifact-Registry-shaped registry host:port (plain HTTP)")
		fs.StringVar(&d.Project, "project", "runsock-dev", "project ID, the first path element")
		fs.StringVar(&d.Upstream, "upstream", "", "host:port of the Docker Hub stand-in (plain HTTP, anonymous); empty: none")
		stdin := fs.Bool("access-token-stdin", false, "read the access token of a writer (gcloud auth print-access-token) from stdin")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *stdin {
			b, err := io.ReadAll(os.Stdin)
			if err != nil {
				return fmt.Errorf("read access token: %w", err)
			}
			d.AccessToken = strings.TrimSpace(string(b))
		}
		if err := testimages.PushAll(ctx, d); err != nil {
			return err
		}
		for _, t := range testimages.Targets(d) {
			fmt.Println(t.Ref)
		}
		return nil
	case "save":
		out := fs.String("out", "", "directory for NAME.tar files")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return fmt.Errorf("save: --out is required")
		}
		paths, err := testimages.Save(*out)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Println(p)
		}
		return nil
	}
	return usage()
}
