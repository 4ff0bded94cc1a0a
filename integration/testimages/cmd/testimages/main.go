// Command testimages builds runsock's test images from busybox-static and pushes them to gcpsim's registry or saves
// them as `docker load` tarballs.
//
//	go run ./integration/testimages/cmd/testimages push --registry 127.0.0.1:18091 --project runsock-dev
//	go run ./integration/testimages/cmd/testimages save --out DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/runsock/runsock/integration/testimages"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testimages:", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: testimages push [--registry HOST:PORT] [--project ID] | testimages save --out DIR")
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
		registry := fs.String("registry", "127.0.0.1:18091", "registry host:port (plain HTTP)")
		project := fs.String("project", "runsock-dev", "project ID, the first path element")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if err := testimages.PushAll(ctx, *registry, *project); err != nil {
			return err
		}
		for _, t := range testimages.Targets(*registry, *project) {
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
