package integration

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending
// the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(f string, a ...any) {
	r.fatal = fmt.Sprintf(f, a...)
	panic(r)
}
func (r *recorder) Skipf(f string, a ...any) {
	r.skip = fmt.Sprintf(f, a...)
	panic(r)
}

// need calls Need with a recorder and reports what it did.
func need(names ...string) (r *recorder) {
	r = &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	Need(r, names...)
	return r
}

// TestNeed: a missing binary skips the real-server tests locally and fails
// them under CI=true, where they must run.
func TestNeed(t *testing.T) {
	const missing = "mxroute-no-such-binary"
	tests := []struct {
		ci                  string
		wantFatal, wantSkip bool
		reason              string
	}{
		{"true", true, false, "CI must run the suite, never skip it"},
		{"", false, true, "locally a missing daemon skips"},
		{"false", false, true, "only CI=true makes it required"},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := need(missing)
			assert.Equal(t, tt.wantFatal, r.fatal != "", tt.reason)
			assert.Equal(t, tt.wantSkip, r.skip != "", tt.reason)
			assert.Contains(t, r.fatal+r.skip, missing)
		})
	}
	t.Run("present", func(t *testing.T) {
		t.Setenv("CI", "true")
		r := need("sh")
		assert.Empty(t, r.fatal+r.skip, "a binary on PATH is found")
	})
}
