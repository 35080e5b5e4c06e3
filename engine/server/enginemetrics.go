package server

import "github.com/prometheus/client_golang/prometheus"

// describeEngine and collectEngine export the engine's own statistics.
func describeEngine(ch chan<- *prometheus.Desc) {}

func collectEngine(s *Server, ch chan<- prometheus.Metric) {}
