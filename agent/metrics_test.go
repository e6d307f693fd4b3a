package agent_test

import (
	"testing"

	"github.com/procurebot/procurebot/agent"
)

// testutilCount sums every sample of the metric family name.
func testutilCount(t *testing.T, m *agent.Metrics, name string) int {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if c := s.GetCounter(); c != nil {
				n += c.GetValue()
			}
			if g := s.GetGauge(); g != nil {
				n += g.GetValue()
			}
		}
	}
	return int(n)
}
