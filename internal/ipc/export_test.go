package ipc

// PeerAllowed exposes the peer-credential rule to the tests.
var PeerAllowed = peerAllowed
