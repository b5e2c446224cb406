package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"softphone/audio"
	"softphone/audio/voice"
	"softphone/signaling"
)

// Config configures an Engine. Zero fields take the defaults named on them.
type Config struct {
	// ServerURL is the call server's WebSocket URL (ws://HOST:PORT/ws).
	ServerURL string
	// ServerURLs, when set, are the nodes of a cluster of call servers
	// (ServerURL, if also set, is tried first): the phone logs in to the
	// first that answers and, when its connection drops, resumes on the
	// next that does (signaling.ClientConfig.URLs).
	ServerURLs []string
	// UserID and UserSig are the login.
	UserID  string
	UserSig string
	// Mic and Speaker are the --mic and --speaker specs (audio.ParseMic,
	// audio.ParseSpeaker); empty means the default devices.
	Mic, Speaker string
	// Voice is the microphone's voice processing (--aec, --ns, --agc; see
	// audio.Config.Voice); nil means all on.
	Voice *voice.Config
	// AudioBackends are the audio systems to try (audio.DefaultBackends).
	AudioBackends []audio.Backend
	// ICEServers are STUN/TURN servers, used together with (before) those
	// the call server offers at login; none are needed on one host or LAN.
	ICEServers []webrtc.ICEServer
	// ICETransportPolicy relay (ParseICETransportPolicy) allows only paths
	// through a TURN server; the default allows every path.
	ICETransportPolicy webrtc.ICETransportPolicy
	// Net replaces the host network for media (pion's vnet in tests).
	Net transport.Net
	// HTTPClient dials the server (http.DefaultClient); set one with a
	// private CA for wss://.
	HTTPClient *http.Client
	// AutoAnswer accepts every incoming call.
	AutoAnswer bool
	// Logger receives the engine's, the signaling client's and pion's logs
	// (discarded). Nothing is written to stdout or stderr.
	Logger *slog.Logger
	// VolumeInterval is the onUserVoiceVolumeChanged period (300 ms).
	VolumeInterval time.Duration
	// QualityInterval is the onUserNetworkQualityChanged period (2 s).
	QualityInterval time.Duration
	// ReconnectMin and ReconnectMax bound the signaling reconnect backoff
	// (200 ms, 5 s).
	ReconnectMin, ReconnectMax time.Duration
}

// Engine is one logged-in softphone user: its audio, its calls and its
// events. All methods are safe for concurrent use.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	media  mediaConfig
	pipe   *audio.Pipeline
	track  *audioTrack
	events *eventStream
	relays *relayQueue

	mu       sync.Mutex
	client   *signaling.Client
	loggedIn bool // a session the server has not ended (kicked, expired)
	conn     ConnState
	st       callState
	call     *activeCall
	finished recentSet                // calls over for us: late pushes about them are ignored
	joining  map[string]chan struct{} // joins whose reply the loop has not applied yet
	epoch    int                      // counts connection drops, so a snapshot knows what it covers
	muted    bool
	closed   bool

	warnedNoTURN bool // said once that a relay-only policy has no TURN server

	loopDone   chan struct{} // closed when the signaling loop ends
	metersStop chan struct{} // closes the meters of the current call
	stop       chan struct{} // closed by Close
	closeOnce  sync.Once
	closeErr   error
	wg         sync.WaitGroup
	peerWG     sync.WaitGroup // peers being closed in the background
}

// New opens the audio devices and prepares the engine. It does not contact
// the server: Login does. With no usable audio device the engine still
// starts, on the null backend, and says so in an onAudioDeviceChanged
// warning.
func New(cfg Config) (*Engine, error) {
	if !signaling.ValidUserID(cfg.UserID) {
		return nil, invalidError("user id %q: use 1 to %d letters, digits, _ or -", cfg.UserID, MaxUserIDLen)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.VolumeInterval <= 0 {
		cfg.VolumeInterval = 300 * time.Millisecond
	}
	if cfg.QualityInterval <= 0 {
		cfg.QualityInterval = 2 * time.Second
	}
	e := &Engine{
		cfg: cfg,
		log: cfg.Logger.With("user", cfg.UserID),
		media: mediaConfig{
			ICEServers:         cfg.ICEServers,
			ICETransportPolicy: cfg.ICETransportPolicy,
			Net:                cfg.Net,
			// Keepalives every 500 ms notice a dead path within 2 s; the
			// restart logic then tries new ICE credentials.
			ICEDisconnected: iceDisconnected,
			ICEFailed:       10 * time.Second,
			ICEKeepalive:    500 * time.Millisecond,
			Logger:          cfg.Logger.With("user", cfg.UserID),
		},
		events:   newEventStream(),
		finished: newRecentSet(64),
		stop:     make(chan struct{}),
	}
	e.relays = newRelayQueue(e.log)

	e.track = newAudioTrack(cfg.UserID)

	pipe, err := e.openAudio(cfg.Mic, cfg.Speaker)
	if err != nil {
		e.events.stop(0)
		e.relays.close()
		return nil, err
	}
	e.pipe = pipe
	// Also marks when the speaker's clock started: a wav: recording's
	// sample 0 is this line's time.
	e.log.Info("audio ready", "mic", pipe.MicName(), "speaker", pipe.SpeakerName(), "warning", pipe.Warning())
	e.publishDevice(pipe)
	e.events.publish(ConnectionChanged{State: ConnOffline})

	return e, nil
}

// sendAudio writes one encoded 20 ms frame to the shared track, which pion
// sends to every connected peer: encoded once, whatever the call size.
func (e *Engine) sendAudio(p audio.Packet) {
	dropped := p.Dropped
	if dropped > 0xffff {
		dropped = 0xffff
	}
	// Before any peer is connected the track has no bindings and this is
	// a cheap no-op.
	e.track.write(p.Payload, uint16(dropped))
}

// openAudio opens a pipeline for the given mic and speaker specs.
func (e *Engine) openAudio(mic, speaker string) (*audio.Pipeline, error) {
	// The warning callback needs the pipeline Open is about to return.
	var self atomic.Pointer[audio.Pipeline]
	pipe, err := audio.Open(audio.Config{
		Mic:      mic,
		Speaker:  speaker,
		Voice:    e.cfg.Voice,
		Logger:   e.cfg.Logger.With("user", e.cfg.UserID),
		Backends: e.cfg.AudioBackends,
		OnWarning: func(string) {
			p := self.Load()
			e.mu.Lock()
			current := p != nil && e.pipe == p
			e.mu.Unlock()
			if current {
				e.publishDevice(p)
			}
		},
	})
	if err != nil {
		return nil, &Error{Code: CodeMedia, Message: "audio: " + err.Error(), err: err}
	}
	self.Store(pipe)
	return pipe, nil
}

// publishDevice raises onAudioDeviceChanged for pipe.
func (e *Engine) publishDevice(pipe *audio.Pipeline) {
	v := pipe.VoiceStatus()
	e.events.publish(AudioDeviceChanged{Mic: pipe.MicName(), Speaker: pipe.SpeakerName(), Warning: pipe.Warning(),
		Voice: VoiceProcessing{AEC: v.AEC, NS: v.NS, AGC: v.AGC}})
}

// SetAudio switches the microphone and the speaker (specs as for --mic and
// --speaker; empty means the default device). In a call the audio moves to
// the new devices and the call goes on. If the new devices cannot be opened
// the old ones stay in use and the error says why.
func (e *Engine) SetAudio(mic, speaker string) error {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return ErrClosed
	}
	next, err := e.openAudio(mic, speaker)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		_ = next.Close()
		return ErrClosed
	}
	old := e.pipe
	e.pipe = next
	next.SetMuted(e.muted)
	if c := e.call; c != nil {
		for id, r := range c.remotes {
			if r.rx.Load() == nil {
				continue
			}
			rx, err := next.AddRemote(id)
			if err != nil {
				e.mediaError(id, err)
				r.rx.Store(nil)
				continue
			}
			r.rx.Store(rx)
		}
	}
	e.ringFor(e.st)
	e.sendFor(e.st)
	e.mu.Unlock()
	e.publishDevice(next)
	if err := old.Close(); err != nil {
		e.log.Warn("closing the previous audio devices", "err", err)
	}
	return nil
}

// Events is the engine's ordered event stream. Call-state events are never
// dropped; volume and network-quality events are coalesced when the reader
// is slow. Read it until it is closed (by Close).
func (e *Engine) Events() <-chan Event { return e.events.out }

// UserID is the logged-in user.
func (e *Engine) UserID() string { return e.cfg.UserID }

// ServerURL is the call server's URL: the one connected to (or tried
// last) once logged in.
func (e *Engine) ServerURL() string {
	e.mu.Lock()
	client := e.client
	e.mu.Unlock()
	if client != nil {
		return client.URL()
	}
	if urls := e.serverURLs(); len(urls) > 0 {
		return urls[0]
	}
	return ""
}

// serverURLs is ServerURL followed by ServerURLs, without repeats.
func (e *Engine) serverURLs() []string {
	var urls []string
	for _, u := range append([]string{e.cfg.ServerURL}, e.cfg.ServerURLs...) {
		if u != "" && !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

// AudioStats are the local audio pipeline's counters (for diagnostics and
// the load test).
func (e *Engine) AudioStats() audio.PipelineStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pipe.Stats()
}

// RemoteAudioStats returns the receive statistics of every remote user in
// the current call.
func (e *Engine) RemoteAudioStats() map[string]audio.RemoteStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]audio.RemoteStats{}
	if e.call != nil {
		for id, r := range e.call.remotes {
			if rx := r.rx.Load(); rx != nil {
				out[id] = rx.Stats()
			}
		}
	}
	return out
}

// Login connects to the call server and logs in. It fails with a coded
// *Error: a bad or expired userSig (2001, 2002), an unreachable server
// (6005).
func (e *Engine) Login(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	if e.client != nil {
		e.mu.Unlock()
		return stateError("already logged in")
	}
	e.conn = ConnConnecting
	e.mu.Unlock()
	e.events.publish(ConnectionChanged{State: ConnConnecting})

	client, err := signaling.Dial(ctx, signaling.ClientConfig{
		URLs:         e.serverURLs(),
		UserID:       e.cfg.UserID,
		UserSig:      e.cfg.UserSig,
		Logger:       e.cfg.Logger, // the client adds the user itself
		HTTPClient:   e.cfg.HTTPClient,
		ReconnectMin: e.cfg.ReconnectMin,
		ReconnectMax: e.cfg.ReconnectMax,
	})
	if err != nil {
		e.mu.Lock()
		e.conn = ConnOffline
		e.mu.Unlock()
		e.events.publish(ConnectionChanged{State: ConnOffline})
		return wrapError("log in", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		_ = client.Close()
		return ErrClosed
	}
	e.client = client
	e.loggedIn = true
	e.relays.setClient(client)
	e.loopDone = make(chan struct{})
	e.wg.Add(1)
	go e.loop(client, e.loopDone)
	return nil
}

// loop applies the server's pushes, in order, to the call state.
func (e *Engine) loop(client *signaling.Client, done chan struct{}) {
	defer e.wg.Done()
	defer close(done)
	for ev := range client.Events() {
		e.mu.Lock()
		e.onSignal(ev)
		e.mu.Unlock()
	}
}

// Logout leaves any call (hanging up) and logs out.
func (e *Engine) Logout(ctx context.Context) error {
	e.mu.Lock()
	client, done := e.client, e.loopDone
	if client == nil {
		e.mu.Unlock()
		return nil
	}
	if e.call != nil {
		e.endCall(e.call, endLocal, signaling.ReasonHangup)
	}
	e.client = nil
	e.loggedIn = false
	e.mu.Unlock()

	e.relays.setClient(nil)
	err := client.Close() // logs out: the server ends our calls at once
	select {
	case <-done:
	case <-ctx.Done():
	}
	e.mu.Lock()
	e.conn = ConnOffline
	e.mu.Unlock()
	e.events.publish(ConnectionChanged{State: ConnOffline})
	if err != nil && !errors.Is(err, signaling.ErrClosed) {
		return wrapError("log out", err)
	}
	return nil
}

// Close hangs up, logs out, closes the audio devices and stops every
// goroutine. Events is closed after the last call-state event is read (or
// after 2 s if nobody reads). It may be called any number of times, from
// any goroutines: the first call closes, the others wait for it and return
// its result.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Engine) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.Logout(ctx)

	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	close(e.stop)
	e.wg.Wait()
	e.peerWG.Wait()
	e.relays.close()
	e.mu.Lock()
	pipe := e.pipe
	e.mu.Unlock()
	err := pipe.Close()
	e.events.stop(2 * time.Second)
	if err != nil {
		return &Error{Code: CodeMedia, Message: "closing audio: " + err.Error(), err: err}
	}
	return nil
}

// ready returns the client for an action, or why there is none. e.mu held.
func (e *Engine) ready() (*signaling.Client, error) {
	switch {
	case e.closed:
		return nil, ErrClosed
	case e.client == nil || !e.loggedIn:
		return nil, ErrNotLoggedIn
	}
	return e.client, nil
}

// cleanUsers validates and de-duplicates invitees, as ParseDial does.
func (e *Engine) cleanUsers(users []string) ([]string, error) {
	out, err := checkInvitees(users, e.cfg.UserID, e.MaxCallSize()-1)
	if err != nil {
		return nil, invalidError("%s", err)
	}
	return out, nil
}

// MaxCallSize is the most people in one call, the caller included: the
// server's limit from the login reply (signaling.DefaultMaxCallSize before
// the first login).
func (e *Engine) MaxCallSize() int {
	e.mu.Lock()
	client := e.client
	e.mu.Unlock()
	if client != nil {
		if n := client.Session().MaxCallSize; n >= 2 {
			return n
		}
	}
	return signaling.DefaultMaxCallSize
}

// Call invites one user (a 1:1 call) or several (a group call). It returns
// once the server has the invitation; what happens next comes as events
// (onUserJoin and onCallBegin, or onUserReject / onUserNoResponse /
// onUserLineBusy and onCallCancelled).
func (e *Engine) Call(ctx context.Context, userIDs []string, p CallParams) error {
	users, err := e.cleanUsers(userIDs)
	if err != nil {
		return err
	}
	if p.MediaType != MediaVoice && p.MediaType != MediaVideo {
		return invalidError("media type %d: want 0 (voice) or 1 (video)", int(p.MediaType))
	}
	if p.Timeout != 0 && (p.Timeout < time.Second || p.Timeout > 600*time.Second) {
		return invalidError("timeout %v: want 1 s to 600 s", p.Timeout)
	}
	e.mu.Lock()
	client, err := e.ready()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	if e.st != stateIdle {
		e.mu.Unlock()
		return stateError("already in a call (%s)", e.st)
	}
	c := newActiveCall(e.cfg.UserID, RoleCaller)
	c.media, c.invitees, c.groupID, c.userData = p.MediaType, users, p.GroupID, p.UserData
	e.setCall(c)
	e.setState(stateDialing)
	e.mu.Unlock()

	info, err := client.Invite(ctx, signaling.InviteParams{
		UserIDs:   users,
		GroupID:   p.GroupID,
		MediaType: p.MediaType,
		UserData:  p.UserData,
		Timeout:   p.Timeout,
		RoomID:    p.RoomID,
	})

	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		if e.call == c {
			e.call = nil
			e.setState(stateIdle)
		}
		return wrapError("call", err)
	}
	if c.id == "" {
		c.id = info.CallID
	}
	c.room = info.RoomID
	if c.hangupWanted && !e.finished.has(info.CallID) {
		// Hung up while the invitation was on its way.
		e.finished.add(info.CallID)
		e.hangupAsync(client, info.CallID)
	}
	return nil
}

// incoming returns the client and the ringing call's id, or why there is
// no call to verb. e.mu held.
func (e *Engine) incoming(verb string) (*signaling.Client, string, error) {
	client, err := e.ready()
	if err != nil {
		return nil, "", err
	}
	if e.st != stateIncoming {
		return nil, "", stateError("no incoming call to %s", verb)
	}
	return client, e.call.id, nil
}

// Accept answers the incoming call. onCallBegin follows.
func (e *Engine) Accept(ctx context.Context) error {
	e.mu.Lock()
	client, id, err := e.incoming("accept")
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := client.Accept(ctx, id); err != nil {
		return wrapError("accept", err)
	}
	return nil
}

// Reject declines the incoming call (onCallCancelled with this user's id).
func (e *Engine) Reject(ctx context.Context) error {
	e.mu.Lock()
	client, id, err := e.incoming("reject")
	if err != nil {
		e.mu.Unlock()
		return err
	}
	e.endCall(e.call, endLocal, signaling.ReasonRejected)
	offline := e.conn != ConnConnected
	e.mu.Unlock()
	if offline {
		e.rejectAsync(client, id)
		return nil
	}
	return ignoreGone(client.Reject(ctx, id), "reject")
}

// Hangup leaves the current call (onCallEnd), cancels an outgoing call that
// is still ringing (onCallCancelled), or rejects an incoming one.
func (e *Engine) Hangup(ctx context.Context) error {
	e.mu.Lock()
	client, err := e.ready()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	c := e.call
	if c == nil {
		e.mu.Unlock()
		return stateError("no call to hang up")
	}
	id := c.id
	reason := signaling.ReasonHangup
	if e.st == stateIncoming {
		reason = signaling.ReasonRejected
	}
	if id == "" {
		c.hangupWanted = true // Call sends the hangup when the id arrives
	}
	e.endCall(c, endLocal, reason)
	offline := e.conn != ConnConnected
	e.mu.Unlock()
	switch {
	case id == "":
		return nil
	case offline:
		// Over here already; the server hears of it once it is back, and
		// the user is not kept waiting for that.
		if reason == signaling.ReasonRejected {
			e.rejectAsync(client, id)
		} else {
			e.hangupAsync(client, id)
		}
		return nil
	case reason == signaling.ReasonRejected:
		return ignoreGone(client.Reject(ctx, id), "reject")
	}
	return ignoreGone(client.Hangup(ctx, id), "hang up")
}

// ignoreGone treats "that call is already over" as success: the local side
// has already ended it.
func ignoreGone(err error, what string) error {
	if err == nil || errors.Is(err, signaling.ErrNoSuchCall) || errors.Is(err, signaling.ErrWrongState) || errors.Is(err, signaling.ErrNotInvited) {
		return nil
	}
	return wrapError(what, err)
}

// hangupAsync tells the server we left a call, without holding anyone up.
func (e *Engine) hangupAsync(client *signaling.Client, id string) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Hangup(ctx, id); err != nil && ignoreGone(err, "") != nil {
			e.log.Warn("hang up", "call", id, "err", err)
		}
	}()
}

// Invite invites more users into the current call.
func (e *Engine) Invite(ctx context.Context, userIDs []string) error {
	users, err := e.cleanUsers(userIDs)
	if err != nil {
		return err
	}
	e.mu.Lock()
	client, err := e.ready()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	if e.call == nil || e.call.id == "" || (e.st != stateInCall && e.st != stateDialing) {
		e.mu.Unlock()
		return stateError("not in a call: place one with call")
	}
	id := e.call.id
	e.mu.Unlock()
	if _, err := client.InviteMore(ctx, id, users, 0); err != nil {
		return wrapError("invite", err)
	}
	return nil
}

// Join enters a live call this user was invited to (accepting it if it is
// ringing, or coming back after leaving it).
func (e *Engine) Join(ctx context.Context, callID string) error {
	if callID == "" {
		return invalidError("join: give a call id")
	}
	e.mu.Lock()
	client, err := e.ready()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	switch {
	case e.st == stateIncoming && e.call.id == callID:
		e.mu.Unlock()
		return e.Accept(ctx)
	case e.st != stateIdle:
		e.mu.Unlock()
		return stateError("already in a call (%s)", e.st)
	}
	// The loop applies the reply (signaling.JoinAnswered) in its place
	// among the pushes; Join returns once it has.
	applied := make(chan struct{})
	if e.joining == nil {
		e.joining = make(map[string]chan struct{})
	}
	e.joining[callID] = applied
	done := e.loopDone
	e.mu.Unlock()
	_, err = client.Join(ctx, callID)
	if err == nil {
		select {
		case <-applied:
		case <-done:
		case <-ctx.Done():
		}
	}
	e.mu.Lock()
	if e.joining[callID] == applied {
		delete(e.joining, callID)
	}
	e.mu.Unlock()
	if err != nil {
		return wrapError("join", err)
	}
	return nil
}

// joinAnswered starts a participation in a call this user joined (Join),
// at the reply's place among the pushes: pushes about the call from before
// it (the callEnded of a hang-up just before) were about the previous one.
func (e *Engine) joinAnswered(v signaling.JoinAnswered) {
	if ch := e.joining[v.CallID]; ch != nil {
		delete(e.joining, v.CallID)
		defer close(ch)
	}
	e.finished.remove(v.CallID)
	if e.st == stateIdle && e.call == nil {
		// Joined a call where nobody else is in yet: wait for them as a
		// caller waits. onCallBegin comes (callBegan) when someone is.
		e.setCall(callFromInfo(e.cfg.UserID, v.Call))
		e.setState(stateDialing)
	}
}

// SwitchMediaType asks to switch the call between voice and video
// (onCallMediaTypeChanged follows, for everyone).
func (e *Engine) SwitchMediaType(ctx context.Context, t MediaType) error {
	if t != MediaVoice && t != MediaVideo {
		return invalidError("media type %d: want 0 (voice) or 1 (video)", int(t))
	}
	e.mu.Lock()
	client, err := e.ready()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	if e.call == nil || e.call.id == "" || e.st == stateIncoming {
		e.mu.Unlock()
		return stateError("not in a call")
	}
	id, cur := e.call.id, e.call.media
	e.mu.Unlock()
	if cur == t {
		return nil
	}
	if err := client.SwitchMedia(ctx, id, t); err != nil {
		return wrapError("switch media", err)
	}
	return nil
}

// SetMicMuted mutes or unmutes the microphone. The others in the call get
// onUserAudioAvailable for this user; so does this user's own stream. It
// holds across calls.
func (e *Engine) SetMicMuted(muted bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.muted == muted {
		return nil
	}
	e.muted = muted
	e.pipe.SetMuted(muted)
	e.events.publish(UserAudioAvailable{UserID: e.cfg.UserID, IsAudioAvailable: !muted})
	if e.call != nil && e.call.id != "" && e.st == stateInCall {
		e.relays.sendAll(e.call.id, mediaStateMsg(muted))
	}
	return nil
}

// Idle reports whether the engine has a session with the server and is in
// no call: ready to place or take the next one.
func (e *Engine) Idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loggedIn && e.st == stateIdle
}

// MicMuted reports whether the microphone is muted.
func (e *Engine) MicMuted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.muted
}

// String describes the engine for logs.
func (e *Engine) String() string { return fmt.Sprintf("engine(%s)", e.cfg.UserID) }
