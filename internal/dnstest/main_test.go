package dnstest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: every server,
// exchange and lookup a test starts, cancelled or timed out ones included,
// must be gone by then.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
