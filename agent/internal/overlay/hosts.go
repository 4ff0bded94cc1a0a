package overlay

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// The block of /etc/hosts the agent owns; the rest of the file is left as it is.
const (
	blockBegin = "# runsock network peers: written by the runsock agent\n"
	blockEnd   = "# end of runsock network peers\n"
)

// hostsContent returns current with its runsock block replaced by one line per address (addr name...).
func hostsContent(current []byte, entries [][]string) []byte {
	var keep bytes.Buffer
	in := false
	for _, line := range strings.SplitAfter(string(current), "\n") {
		switch {
		case line == blockBegin:
			in = true
		case line == blockEnd:
			in = false
		case !in && line != "":
			keep.WriteString(line)
		}
	}
	out := keep.Bytes()
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	if len(entries) == 0 {
		return out
	}
	var b bytes.Buffer
	b.Write(out)
	b.WriteString(blockBegin)
	for _, e := range entries {
		fmt.Fprintln(&b, strings.Join(e, "\t"))
	}
	b.WriteString(blockEnd)
	return b.Bytes()
}

// writeHosts rewrites path in place (it may be a bind mount, which cannot be replaced by a rename).
func writeHosts(path string, entries [][]string) error {
	cur, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	next := hostsContent(cur, entries)
	if bytes.Equal(cur, next) {
		return nil
	}
	return os.WriteFile(path, next, 0o644)
}

// nsswitchHosts is what an image without /etc/nsswitch.conf gets once it has peers. Without the file, glibc looks
// hosts up as "dns [!UNAVAIL=return] files": a DNS server that answers "no such name" (Docker's, Cloud Run's) ends
// the lookup before /etc/hosts is read. Every distribution ships "files dns"; musl reads /etc/hosts first anyway.
const nsswitchHosts = "hosts: files dns\n"

// ensureNsswitch writes path with nsswitchHosts when it does not exist; an existing file is the image's choice.
func ensureNsswitch(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if os.IsExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(nsswitchHosts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
