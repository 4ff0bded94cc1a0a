package containers

import (
	"context"
	"time"
)

// SetSleep replaces how s waits (restart backoffs, auto-removal retries), for tests in containers_test that hold a
// restart policy in its "restarting" state.
func SetSleep(s *Service, sleep func(ctx context.Context, d time.Duration) error) { s.sleep = sleep }
