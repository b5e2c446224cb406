// Package engine turns the signaling client and the audio pipeline into
// calls: one pion PeerConnection per remote participant (full mesh), Opus
// audio from the audio package, and every event of the reference call-event
// interface (shared/reference/TUICallEvent.md) on one ordered stream. It
// holds calls and nothing else: the front ends (tui, headless) drive it,
// and the tools (load test, bots) are built on it under internal/.
//
// The public API, in full:
//
//   - New(Config) makes an Engine: one user's audio devices, login and
//     calls. Login and Logout connect to the call server; Close ends all.
//   - Actions: Call (with CallParams), Accept, Reject, Hangup, Invite,
//     Join, SwitchMediaType, SetMicMuted, SetAudio (switch devices).
//   - State: Events (the ordered event stream), UserID, ServerURL,
//     MaxCallSize (the server's, from its login reply), Idle, MicMuted,
//     AudioStats and RemoteAudioStats (receive statistics).
//   - Events: one struct per reference event (CallReceived, CallBegin,
//     CallEnd, UserJoin, ... UserNetworkQualityChanged) plus
//     ConnectionChanged and AudioDeviceChanged, with their values
//     MediaType, CallRole, RoomID, NetworkQuality and ConnState, the
//     ConnectionPath each participant's media takes (direct, STUN, relay;
//     on UserNetworkQualityChanged), and VoiceProcessing (what cleans the
//     microphone, on AudioDeviceChanged); IsLossy tells the coalesced
//     ones; MarshalEvent gives their JSON form.
//   - Input from people: ParseDial (user ids and --video, the one parser of
//     both front ends), ValidUserID and MaxUserIDLen, ParseMediaType,
//     ParseICEServer, ParseICETransportPolicy.
//
// STUN and TURN servers come from Config.ICEServers and from the call
// server's login reply (renewed before their credentials expire, with an
// ICE restart for a relayed path); Config.ICETransportPolicy can allow
// relayed paths only.
//   - Errors: *Error with a numbered Code (CodeNotLoggedIn ...
//     CodeUnknownError) and the sentinels ErrNotLoggedIn and ErrClosed.
//
// The engine knows nothing of terminals, and never blocks on its caller:
// events are queued (call-state events without bound, meters coalesced),
// each peer's negotiation runs through its own unbounded queue, and network
// I/O and statistics happen outside the engine's lock. All methods are
// safe for concurrent use.
package engine
