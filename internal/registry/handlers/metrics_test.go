package handlers

import (
	"testing"
)

// counter sums every sample of a metric family.
func counter(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

// §3.1 / §4.1: the type label of a body that failed to decode is the one
// key spelled exactly "type"; a differently cased or repeated key names
// no type.
func TestRawType(t *testing.T) {
	for body, want := range map[string]string{
		`{"type":"heartbeat","node_id":"x"}`:  "heartbeat",
		`{"node_id":1,"type":"lookup"}`:       "lookup",
		`{"TYPE":"heartbeat"}`:                "",
		`{"Type":"heartbeat"}`:                "",
		`{"type":"bogus","type":"heartbeat"}`: "",
		`{"type":7}`:                          "",
		`["type","heartbeat"]`:                "",
		`{"type":"heartbeat"`:                 "",
		`{"x":{"type":"heartbeat"}}`:          "",
	} {
		if got := rawType([]byte(body)); got != want {
			t.Errorf("rawType(%s) = %q, want %q", body, got, want)
		}
	}
}
