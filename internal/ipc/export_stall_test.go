package ipc

// CountedSlots returns, over the server's clients, the largest number of
// legacy reply slots that count against MaxOutstanding (the reader pauses
// at MaxOutstanding).
func CountedSlots(s *Server) int {
	s.mu.Lock()
	clients := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	most := 0
	for _, c := range clients {
		c.mu.Lock()
		most = max(most, len(c.slots)-c.emptySlots)
		c.mu.Unlock()
	}
	return most
}
