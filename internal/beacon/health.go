package beacon

import (
	"net"
	"net/http"
	"net/netip"
)

// HealthHandler serves the -health listener (beacon.md §13): GET /healthz
// answers 200 "ok" while the beacon serves and 503 "unhealthy" otherwise,
// as text/plain. When metrics is not nil, /metrics is served to loopback
// peers only (others get 403).
func (s *Server) HealthHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !s.Healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("unhealthy"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	if metrics != nil {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			if !loopbackPeer(r.RemoteAddr) {
				http.Error(w, "metrics are served to loopback clients only", http.StatusForbidden)
				return
			}
			metrics.ServeHTTP(w, r)
		})
	}
	return mux
}

func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
