package rfcvectors

import (
	"testing"

	"github.com/mxroute-go/mxroute"
)

// TestVectorsCache runs every vector through a Cache, twice: cold, then
// warm, when the Router reads the cached answers in place. A cache must not
// change a route.
func TestVectorsCache(t *testing.T) {
	z, err := NewZoneResolver()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range All {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			c := &mxroute.Cache{Resolver: v.WithFaults(z)}
			for range 2 {
				rt, err := v.Router(c).Route(t.Context(), v.Domain)
				Check(t, v, rt, err)
			}
		})
	}
}
