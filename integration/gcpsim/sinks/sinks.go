package sinks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/runsock/runsock/integration/gcpsim/logging"
)

// Sink is one log sink: every visible entry that matches Filter is published to Destination.
type Sink struct {
	// Name follows Cloud Logging's rule: up to 100 of [A-Za-z0-9_.-], starting with a letter or digit.
	Name string `json:"name"`
	// Filter is a Logging query (see logging.ParseFilter); empty matches every entry.
	Filter string `json:"filter"`
	// Destination is pubsub.googleapis.com/projects/PROJECT/topics/TOPIC.
	Destination string `json:"destination"`
	// Disabled sinks publish nothing.
	Disabled bool `json:"disabled,omitempty"`

	filter *logging.Filter
	topic  string // projects/PROJECT/topics/TOPIC
}

var (
	sinkName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	destination = regexp.MustCompile(`^pubsub\.googleapis\.com/(projects/[a-z0-9.:-]+/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254})$`)
)

// compile validates the sink and parses its filter.
func (s *Sink) compile() error {
	if !sinkName.MatchString(s.Name) {
		return fmt.Errorf("sink name %q: want up to 100 of [A-Za-z0-9_.-], starting with a letter or digit", s.Name)
	}
	m := destination.FindStringSubmatch(s.Destination)
	if m == nil {
		return fmt.Errorf("sink %q: destination %q: want pubsub.googleapis.com/projects/PROJECT/topics/TOPIC", s.Name, s.Destination)
	}
	f, err := logging.ParseFilter(s.Filter)
	if err != nil {
		return fmt.Errorf("sink %q: %w", s.Name, err)
	}
	s.filter, s.topic = f, m[1]
	return nil
}

// ParseFlag parses the flag form NAME=FILTER=>pubsub.googleapis.com/projects/P/topics/T. The filter may contain
// '=' itself; the name ends at the first '=' and the destination starts after the last "=>".
func ParseFlag(v string) (Sink, error) {
	name, rest, ok := strings.Cut(v, "=")
	i := strings.LastIndex(rest, "=>")
	if !ok || i < 0 {
		return Sink{}, fmt.Errorf("sink %q: want NAME=FILTER=>pubsub.googleapis.com/projects/P/topics/T", v)
	}
	s := Sink{Name: strings.TrimSpace(name), Filter: strings.TrimSpace(rest[:i]), Destination: strings.TrimSpace(rest[i+2:])}
	if err := s.compile(); err != nil {
		return Sink{}, err
	}
	return s, nil
}

// LoadFile reads sinks from a JSON file holding either a list of sinks or {"sinks": [...]}, each
// {"name": ..., "filter": ..., "destination": ..., "disabled": false}.
func LoadFile(path string) ([]Sink, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sinks file: %w", err)
	}
	var list []Sink
	if err := json.Unmarshal(b, &list); err != nil {
		var doc struct {
			Sinks []Sink `json:"sinks"`
		}
		if err2 := json.Unmarshal(b, &doc); err2 != nil {
			return nil, fmt.Errorf("sinks file %s: %w", path, err)
		}
		list = doc.Sinks
	}
	var errs []error
	for i := range list {
		if err := list[i].compile(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sinks file %s: %w", path, err)
	}
	return list, nil
}
