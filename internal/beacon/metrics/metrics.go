// Package metrics exposes pilot-beacon's Prometheus metrics (beacon.md §13)
// on a private registry, next to the Go runtime and process collectors:
//
//	pilot_beacon_nodes{auth="signed"|"plain"}   gauge
//	pilot_beacon_peer_nodes                     gauge
//	pilot_beacon_messages_total{type}           counter
//	pilot_beacon_relay_total{result}            counter
//	pilot_beacon_drops_total{reason}            counter
//
// The beacon counts with atomics on its hot paths (beacon.Stats); this
// package reads one snapshot per scrape, so the server package does not
// depend on the Prometheus client. Every label value comes from a fixed set
// (beacon.MessageTypes, RelayResults, DropReasons) and every series exists
// from start-up.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pilot-go/pilot/internal/beacon"
)

// Source is what the collector reads: a *beacon.Server.
type Source interface{ Stats() beacon.Stats }

var (
	nodesDesc = prometheus.NewDesc("pilot_beacon_nodes",
		"Live node table entries, by authentication.", []string{"auth"}, nil)
	peerNodesDesc = prometheus.NewDesc("pilot_beacon_peer_nodes",
		"Node IDs currently announced by peer beacons.", nil, nil)
	messagesDesc = prometheus.NewDesc("pilot_beacon_messages_total",
		"Datagrams received, by message type.", []string{"type"}, nil)
	relayDesc = prometheus.NewDesc("pilot_beacon_relay_total",
		"Relay messages, by outcome.", []string{"result"}, nil)
	dropsDesc = prometheus.NewDesc("pilot_beacon_drops_total",
		"Dropped messages and updates, by reason.", []string{"reason"}, nil)
)

type collector struct{ src Source }

// NewCollector returns a prometheus.Collector for src.
func NewCollector(src Source) prometheus.Collector { return collector{src} }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodesDesc, peerNodesDesc, messagesDesc, relayDesc, dropsDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(st.NodesAuth), "signed")
	ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(st.NodesPlain), "plain")
	ch <- prometheus.MustNewConstMetric(peerNodesDesc, prometheus.GaugeValue, float64(st.PeerNodes))
	for _, t := range beacon.MessageTypes {
		ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(st.Messages[t]), t)
	}
	for _, r := range beacon.RelayResults {
		ch <- prometheus.MustNewConstMetric(relayDesc, prometheus.CounterValue, float64(st.Relay[r]), r)
	}
	for _, r := range beacon.DropReasons {
		ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, float64(st.Drops[r]), r)
	}
}

// Handler serves the exposition of src's metrics and the Go runtime and
// process collectors from a private registry.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
