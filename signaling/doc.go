// Package signaling is softphone's call signaling: the wire protocol, the
// call server and the client library.
//
// The protocol (PROTOCOL.md, version 1) is JSON over one WebSocket per
// client. A client logs in with a userId and a userSig ticket in the
// TLSSigAPIv2 format (Sign, VerifyTicket), sends requests that the server
// answers with a reply echoing the request id, and receives pushes.
//
// Server holds the authoritative call state machine (callstate.go): 1:1 and
// group calls, ringing with timeouts, busy and offline callees, rejection,
// cancellation, rejoining, a size cap, media type switches, relay of WebRTC
// signaling between participants of a call, one session per user (a second
// login kicks the first), ticket expiry while online, and a grace period in
// which a dropped client can reconnect and resume its call. It keeps
// strangers and pests from locking users out (limits.go: a login deadline,
// caps on connections that have not logged in and on all connections;
// invitelimit.go: limits on unanswered invitations; bounded calls, relays
// and pushes), and lets calls outlive it (restore.go: call tokens that a
// restarted server, or another node with the same key, rebuilds calls
// from). It is an http.Handler and can also Serve a listener, which counts
// and caps connections from their first byte; its clock and logger are
// injected (Config.Clock, Config.Logger).
//
// Client connects and logs in (Dial), offers typed request helpers (Invite,
// Accept, Reject, Hangup, InviteMore, Join, SwitchMedia, Relay, RelayAll,
// Sync), delivers pushes and connection changes in order on Events, and
// reconnects with exponential backoff and jitter, resuming its session
// within the server's grace period, or bringing its call back with the
// call's token when the server restarted.
//
// Nothing in this package writes to stdout or stderr; logs go to the
// *slog.Logger given in the config (discarded by default).
package signaling
