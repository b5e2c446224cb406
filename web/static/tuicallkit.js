// TUICallKit for the browser: the softphone engine (engine/ in the Go
// sources) in plain JavaScript. It logs in to `softphone serve` over
// signaling/PROTOCOL.md, sets up one RTCPeerConnection per participant
// (a full mesh, the same glare rule, offer numbering and ICE restarts as the
// terminal phone) and raises the reference call events
// (shared/reference/TUICallEvent.md) with the same names and fields as the
// headless mode's JSON lines: every listener gets {event: "onXxx", ...fields}.
//
//   TUICallKit.on(TUICallEvent.onCallReceived, (e) => TUICallKit.accept());
//   await TUICallKit.login({userId: "guest", userSig: TICKET});
//   await TUICallKit.call(["alice"], {callMediaType: TUICallMediaType.VIDEO});
//
// No build step and no dependencies: this file is served as is.
(function (global) {
  "use strict";

  // ---- the event interface --------------------------------------------------

  const TUICallEvent = Object.freeze({
    onError: "onError",
    onCallReceived: "onCallReceived",
    onCallCancelled: "onCallCancelled",
    onCallBegin: "onCallBegin",
    onCallEnd: "onCallEnd",
    onUserReject: "onUserReject",
    onUserNoResponse: "onUserNoResponse",
    onUserLineBusy: "onUserLineBusy",
    onUserJoin: "onUserJoin",
    onUserLeave: "onUserLeave",
    onCallMediaTypeChanged: "onCallMediaTypeChanged",
    onKickedOffline: "onKickedOffline",
    onUserSigExpired: "onUserSigExpired",
    onUserVideoAvailable: "onUserVideoAvailable",
    onUserAudioAvailable: "onUserAudioAvailable",
    onUserVoiceVolumeChanged: "onUserVoiceVolumeChanged",
    onUserNetworkQualityChanged: "onUserNetworkQualityChanged",
    // Extensions, as in the engine (not in the reference):
    onConnectionChanged: "onConnectionChanged",
    onAudioDeviceChanged: "onAudioDeviceChanged",
  });

  const TUICallMediaType = Object.freeze({ AUDIO: 0, VIDEO: 1 });
  const TUICallRole = Object.freeze({ UNKNOWN: 0, CALLER: 1, CALLED: 2 });
  const NetworkQuality = Object.freeze({ Unknown: 0, Excellent: 1, Good: 2, Poor: 3, Bad: 4, Vbad: 5, Down: 6 });
  const QualityNames = ["Unknown", "Excellent", "Good", "Poor", "Bad", "Vbad", "Down"];

  // Error codes: 1xxx-5xxx are the call server's (PROTOCOL.md), 6xxx the
  // engine's own, the same numbers as the terminal phone's.
  const ErrorCode = Object.freeze({
    NOT_LOGGED_IN: 6001, WRONG_STATE: 6002, INVALID: 6003, MEDIA: 6004,
    UNREACHABLE: 6005, CONNECTION: 6006, CLOSED: 6007, KICKED: 6008, TICKET: 6009,
  });

  class CallError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "CallError";
      this.code = code;
    }
  }
  const stateError = (m) => new CallError(ErrorCode.WRONG_STATE, m);
  const invalidError = (m) => new CallError(ErrorCode.INVALID, m);

  // The engine's constants.
  const VOLUME_INTERVAL = 300;     // ms, onUserVoiceVolumeChanged
  const QUALITY_INTERVAL = 2000;   // ms, onUserNetworkQualityChanged
  const CHECK_INTERVAL = 250;      // ms, quick Down checks
  const MEDIA_TIMEOUT = 2500;      // ms without media: Down
  const VANISH_AFTER = 2000;       // ms away and silent: gone
  const RESTART_AFTER = 1000;      // ms of a broken path before an ICE restart
  const RESTART_RETRY = 3000;
  const REQUEST_TIMEOUT = 15000;
  const USER_ID = /^[A-Za-z0-9_-]{1,32}$/;

  // ---- levels and quality: the engine's scales -------------------------------

  // levelFromRMS maps the RMS of float samples (full scale 1.0) onto 0-100
  // as audio/level.go does: dBFS per AES17 (a full-scale sine is 0 dBFS),
  // -60 dBFS and below is 0, each dB above it 100/60 points.
  function levelFromRMS(rms) {
    if (!(rms > 0)) return 0;
    const db = 20 * Math.log10(rms * Math.SQRT2);
    if (db <= -60) return 0;
    return Math.min(100, Math.round((100 * (db + 60)) / 60));
  }

  // grade and qualityOf are engine/quality.go's mapping.
  function grade(v, excellent, good, poor, bad) {
    if (v < excellent) return NetworkQuality.Excellent;
    if (v < good) return NetworkQuality.Good;
    if (v < poor) return NetworkQuality.Poor;
    if (v < bad) return NetworkQuality.Bad;
    return NetworkQuality.Vbad;
  }
  function qualityOf(s) {
    if (s.failed || (s.haveData && s.sinceMedia >= MEDIA_TIMEOUT)) return NetworkQuality.Down;
    if (!s.haveData) return NetworkQuality.Unknown;
    let q = grade(s.lossPct, 1, 3, 8, 15);
    q = Math.max(q, grade(Math.floor(s.rttMs), 100, 200, 300, 500));
    q = Math.max(q, grade(Math.floor(s.jitterMs), 30, 50, 80, 120));
    return q;
  }

  // ---- the signaling connection ----------------------------------------------

  // Signal is one login session with the call server: requests with ids
  // and replies, pushes, pings, and reconnection with the resume token and
  // the call token (PROTOCOL.md, "Calls that outlive the server").
  class Signal {
    constructor(url, userId, userSig, handlers) {
      this.url = url;
      this.userId = userId;
      this.userSig = userSig;
      this.h = handlers; // {push(f), state(s, reply), ended(kind)}
      this.nextId = 1;
      this.waiting = new Map();
      this.token = "";
      this.ws = null;
      this.closed = false;
      this.backoff = 200;
      this.pingTimer = null;
      this.loginReply = null;
      // The call this user is joined in and its latest token, which the
      // next login presents so that a restarted server brings the call
      // back; left is a call this user hung up or rejected, whose tokens
      // are not kept.
      this.callId = "";
      this.callToken = "";
      this.left = "";
    }

    keepToken(callId, token) {
      if (token && callId && callId !== this.left) {
        this.callId = callId;
        this.callToken = token;
      }
    }

    forgetToken() {
      this.callId = "";
      this.callToken = "";
    }

    // noteToken follows the call token through the pushes.
    noteToken(f) {
      switch (f.type) {
        case "kicked":
        case "ticketExpired":
          this.forgetToken();
          return;
        case "callEnded":
        case "callCancelled":
          if (f.callId === this.callId) this.forgetToken();
          return;
      }
      this.keepToken(f.callId, f.callToken);
    }

    // open connects and logs in; it resolves with the login reply.
    open() {
      return new Promise((resolve, reject) => {
        let ws;
        try {
          ws = new WebSocket(this.url);
        } catch (e) {
          reject(new CallError(ErrorCode.UNREACHABLE, "log in: " + e.message));
          return;
        }
        this.ws = ws;
        let loggedIn = false;
        ws.onopen = () => {
          this.send("login", { v: 1, userId: this.userId, userSig: this.userSig, resume: this.token, callToken: this.callToken })
            .then((r) => {
              loggedIn = true;
              this.token = r.token || this.token;
              this.forgetToken();
              if (r.call) this.keepToken(r.call.callId, r.callToken);
              this.loginReply = r;
              this.backoff = 200;
              clearInterval(this.pingTimer);
              this.pingTimer = setInterval(() => this.send("ping").catch(() => {}), (r.heartbeat || 20) * 1000);
              resolve(r);
            })
            .catch((e) => {
              reject(e);
              try { ws.close(1000, "login failed"); } catch (_) { /* closed */ }
            });
        };
        ws.onmessage = (m) => this.onMessage(m);
        ws.onclose = (ev) => {
          this.failWaiting();
          clearInterval(this.pingTimer);
          if (!loggedIn) {
            reject(new CallError(ErrorCode.UNREACHABLE, "log in: the call server cannot be reached (" + this.url + ")"));
            return;
          }
          this.onClose(ev);
        };
      });
    }

    onMessage(m) {
      if (typeof m.data !== "string") return;
      let f;
      try {
        f = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      if ((f.type === "ok" || f.type === "error") && f.id && this.waiting.has(f.id)) {
        const w = this.waiting.get(f.id);
        this.waiting.delete(f.id);
        clearTimeout(w.timer);
        if (f.type === "ok") w.ok(f);
        else w.fail(new CallError(f.code, w.type + ": " + f.message));
        return;
      }
      if (f.id) return; // a reply to a request given up on
      this.noteToken(f);
      this.h.push(f);
    }

    onClose(ev) {
      switch (ev.code) {
        case 4001: this.closed = true; this.h.ended("kicked"); return;
        case 4002: this.closed = true; this.h.ended("expired"); return;
        case 1000: if (this.closed) return; break;
      }
      if (this.closed) return;
      this.h.state("reconnecting");
      this.reconnect();
    }

    reconnect() {
      if (this.closed) return;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, 5000);
      setTimeout(() => {
        if (this.closed) return;
        this.open()
          .then((r) => this.h.state("connected", r))
          .catch((e) => {
            switch (e.code) {
              case 2003: this.closed = true; this.h.ended("kicked"); return;
              case 2002: this.closed = true; this.h.ended("expired"); return;
              case 2001: this.closed = true; this.h.ended("badTicket"); return;
            }
            this.reconnect();
          });
      }, wait);
    }

    // send makes a request and resolves with its ok reply.
    send(type, fields) {
      const callId = fields && fields.callId;
      if (type === "hangup" || type === "reject") {
        this.left = callId; // leaving: a restarted server must not bring it back
        if (callId === this.callId) this.forgetToken();
      } else if ((type === "join" || type === "accept") && callId === this.left) {
        this.left = ""; // a new participation
      } else if (type === "logout") {
        this.forgetToken();
      }
      return new Promise((ok, fail) => {
        if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
          fail(new CallError(ErrorCode.CONNECTION, type + ": not connected to the call server; try again"));
          return;
        }
        const id = this.nextId++;
        const timer = setTimeout(() => {
          this.waiting.delete(id);
          fail(new CallError(ErrorCode.CONNECTION, type + ": no reply from the call server"));
        }, REQUEST_TIMEOUT);
        this.waiting.set(id, { ok, fail, timer, type });
        this.ws.send(JSON.stringify(Object.assign({ type, id }, fields || {})));
      });
    }

    failWaiting() {
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.fail(new CallError(ErrorCode.CONNECTION, w.type + ": the connection to the call server dropped; try again"));
      }
      this.waiting.clear();
    }

    close() {
      this.closed = true;
      clearInterval(this.pingTimer);
      const ws = this.ws;
      if (ws && ws.readyState === WebSocket.OPEN) {
        this.send("logout").catch(() => {}).finally(() => ws.close(1000, "logged out"));
      } else if (ws) {
        ws.close();
      }
    }
  }

  // ---- ringtones (audio/ringtone.go's cadences) ---------------------------------

  const RINGS = {
    incoming: { f: [400, 450], amp: 0.45, cadence: [[1, 0.4], [0, 0.2], [1, 0.4], [0, 2.0]] },
    outgoing: { f: [440, 480], amp: 0.14, cadence: [[1, 2.0], [0, 4.0]] },
  };

  // ---- one remote participant's media link -----------------------------------------

  // Peer ids (PROTOCOL.md: sid and to) grow with time, in microseconds as
  // the terminal client's do, so a connection made later has a larger id.
  let lastPeerId = 0;
  function newPeerId() {
    lastPeerId = Math.max(Date.now() * 1000, lastPeerId + 1);
    return lastPeerId;
  }

  // Peer is peer.go: one RTCPeerConnection, negotiation serialised on one
  // promise chain so offers, answers, candidates and restarts never race.
  class Peer {
    constructor(kit, remote, callId) {
      this.kit = kit;
      this.remote = remote;
      this.callId = callId;
      this.id = newPeerId();
      this.remoteId = 0; // the remote connection's id, once heard from
      this.offerer = kit.userId < remote; // the glare rule: the smaller id offers
      this.pc = new RTCPeerConnection({ iceServers: kit.iceServers });
      this.ops = Promise.resolve();
      this.pending = [];
      this.offering = false;
      this.offerSeq = 0;
      this.again = false;
      this.againRestart = false;
      this.closed = false;
      this.restartTimer = null;
      this.audioEl = null;
      this.audioTrack = null;
      this.videoTrack = null;
      this.analyser = null;
      this.srcNode = null;
      this.rx = { lastArrival: 0, haveData: false, rtp: -1, recv: 0, lost: 0 };

      const local = kit.localStream();
      for (const t of local.getAudioTracks()) this.pc.addTrack(t, local);
      if (kit.wantVideo && kit.camTrack) this.pc.addTrack(kit.camTrack, local);

      this.pc.onicecandidate = (e) => {
        // null: gathering finished; the end of candidates goes out as an
        // empty candidate (PROTOCOL.md).
        this.signal({ kind: "candidate", candidate: e.candidate ? e.candidate.toJSON() : { candidate: "" } });
      };
      this.pc.oniceconnectionstatechange = () => this.onICEState(this.pc.iceConnectionState);
      this.pc.ontrack = (e) => this.onTrack(e);
      if (this.offerer) this.do(() => this.negotiate(false, false));
    }

    signal(payload) {
      payload.sid = this.id;
      if (this.remoteId) payload.to = this.remoteId;
      this.kit.relay(this.callId, this.remote, payload);
    }

    // admit is peer.go's: "stale" for a message of an earlier connection
    // (ours or theirs), "anew" for the first message of a new connection of
    // theirs (replace ours), "ok" otherwise.
    admit(m) {
      const sid = Number.isSafeInteger(m.sid) ? m.sid : 0;
      const to = Number.isSafeInteger(m.to) ? m.to : 0;
      if (to !== 0 && to !== this.id) return "stale";
      if (sid === 0 || sid === this.remoteId) return "ok";
      if (this.remoteId !== 0 && sid < this.remoteId) return "stale";
      if (this.remoteId !== 0 && to === 0) return "anew";
      // The answering side speaks first only to ask for an offer: learn
      // nothing from that (peer.go).
      if (this.remoteId === 0 && to === 0 && this.offerer) return "ok";
      this.remoteId = sid;
      return "ok";
    }

    do(f) {
      this.ops = this.ops.then(() => (this.closed ? undefined : f())).catch((e) => this.kit.debug("signal failed", this.remote, e));
    }

    handle(m) {
      this.do(async () => {
        switch (m.kind) {
          case "offer": return this.onOffer(m.sdp, m.seq || 0);
          case "answer": return this.onAnswer(m.sdp, m.seq || 0);
          case "candidate": return this.onCandidate(m.candidate);
          case "renegotiate": if (this.offerer) return this.negotiate(!!m.iceRestart, false); return;
        }
        this.kit.debug("unknown signal", m.kind);
      });
    }

    // syncVideo gives the video section the camera while the call is a
    // video call, and makes it receive-only otherwise.
    async syncVideo() {
      const want = this.kit.wantVideo && this.kit.camTrack;
      const vt = this.pc.getTransceivers().find((t) => t.receiver.track && t.receiver.track.kind === "video" && !t.stopped);
      if (!vt) {
        if (want && this.offerer) this.pc.addTrack(this.kit.camTrack, this.kit.localStream());
        return;
      }
      if (want) {
        if (vt.sender.track !== this.kit.camTrack) await vt.sender.replaceTrack(this.kit.camTrack);
        vt.direction = "sendrecv";
      } else {
        if (vt.sender.track) await vt.sender.replaceTrack(null);
        vt.direction = "recvonly";
      }
    }

    async negotiate(iceRestart, replace) {
      if (!this.offerer || this.closed) return;
      if (!replace && (this.offering || this.pc.signalingState !== "stable")) {
        this.again = true;
        this.againRestart = this.againRestart || iceRestart;
        return;
      }
      await this.syncVideo();
      const offer = await this.pc.createOffer({ iceRestart });
      this.offerSeq++;
      // Sent before setLocalDescription starts gathering, so the offer
      // leaves ahead of its candidates.
      this.signal({ kind: "offer", sdp: offer.sdp, seq: this.offerSeq });
      await this.pc.setLocalDescription(offer);
      this.offering = true;
    }

    async onOffer(sdp, seq) {
      if (this.offerer) throw new Error("offer from the answering side (glare rule broken)");
      await this.pc.setRemoteDescription({ type: "offer", sdp });
      await this.flushCandidates();
      await this.syncVideo();
      const answer = await this.pc.createAnswer();
      this.signal({ kind: "answer", sdp: answer.sdp, seq });
      await this.pc.setLocalDescription(answer);
    }

    async onAnswer(sdp, seq) {
      if (!this.offering) throw new Error("answer without an offer");
      if (seq !== 0 && seq !== this.offerSeq) return; // the answer to a replaced offer
      this.offering = false;
      await this.pc.setRemoteDescription({ type: "answer", sdp });
      await this.flushCandidates();
      if (this.again) {
        const restart = this.againRestart;
        this.again = this.againRestart = false;
        await this.negotiate(restart, false);
      }
    }

    // Candidates wait until the remote description is set (PROTOCOL.md).
    async onCandidate(c) {
      if (!c) return;
      if (!this.pc.remoteDescription) {
        this.pending.push(c);
        return;
      }
      await this.addCandidate(c);
    }

    async addCandidate(c) {
      try {
        await this.pc.addIceCandidate(c);
      } catch (e) {
        this.kit.debug("add candidate", this.remote, e);
      }
    }

    async flushCandidates() {
      const p = this.pending;
      this.pending = [];
      for (const c of p) await this.addCandidate(c);
    }

    // setVideo switches the link between voice and video.
    setVideo() {
      this.do(async () => {
        if (this.offerer) {
          await this.negotiate(false, false);
        } else {
          await this.syncVideo();
          this.signal({ kind: "renegotiate" });
        }
      });
    }

    onICEState(s) {
      this.kit.debug("ice", this.remote, s);
      if (s === "disconnected" || s === "failed") this.scheduleRestart(RESTART_AFTER);
      if (s === "connected" || s === "completed") this.cancelRestart();
    }

    scheduleRestart(after) {
      if (this.restartTimer || this.closed) return;
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        const st = this.pc.iceConnectionState;
        if (st !== "disconnected" && st !== "failed") return;
        this.do(async () => {
          if (this.offerer) await this.negotiate(true, true);
          else this.signal({ kind: "renegotiate", iceRestart: true });
        });
        this.scheduleRestart(RESTART_RETRY);
      }, after);
    }

    cancelRestart() {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }

    onTrack(e) {
      const t = e.track;
      if (t.kind === "audio") {
        this.audioTrack = t;
        const stream = new MediaStream([t]);
        // Playing the track is also what makes it feed WebAudio (Chromium).
        if (!this.audioEl) {
          this.audioEl = document.createElement("audio");
          this.audioEl.autoplay = true;
          this.audioEl.dataset.user = this.remote;
          this.audioEl.style.display = "none";
          document.body.appendChild(this.audioEl);
        }
        this.audioEl.srcObject = stream;
        this.audioEl.play().catch(() => this.kit.needsGesture());
        this.meterOn(stream);
      } else if (t.kind === "video") {
        this.videoTrack = t;
        t.onunmute = () => this.kit.onRemoteVideo(this, true);
        t.onmute = () => this.kit.onRemoteVideo(this, false);
        t.onended = () => this.kit.onRemoteVideo(this, false);
        if (!t.muted) this.kit.onRemoteVideo(this, true);
      }
      this.kit.streamsChanged(this.remote);
    }

    meterOn(stream) {
      const ctx = this.kit.audioContext();
      if (!ctx) return;
      if (this.srcNode) this.srcNode.disconnect();
      this.srcNode = ctx.createMediaStreamSource(stream);
      this.analyser = ctx.createAnalyser();
      this.analyser.fftSize = 1024; // 21 ms at 48 kHz: the engine's "last 20 ms"
      this.srcNode.connect(this.analyser);
    }

    level() {
      return this.analyser ? this.kit.levelOf(this.analyser) : 0;
    }

    // liveness notes whether audio arrived since the last look, from the
    // receiver's synchronization sources (cheap: no getStats).
    liveness(now) {
      const r = this.pc.getReceivers().find((x) => x.track && x.track.kind === "audio");
      if (r && r.getSynchronizationSources) {
        const src = r.getSynchronizationSources()[0];
        if (src && src.rtpTimestamp !== this.rx.rtp) {
          this.rx.rtp = src.rtpTimestamp;
          this.rx.lastArrival = now;
          const started = !this.rx.haveData;
          this.rx.haveData = true;
          return started;
        }
      }
      return false;
    }

    async newICEServers(list) {
      try {
        this.pc.setConfiguration(Object.assign(this.pc.getConfiguration(), { iceServers: list }));
      } catch (e) {
        this.kit.debug("new ICE servers", this.remote, e);
        return;
      }
      let relayed = false;
      (await this.pc.getStats()).forEach((s) => {
        if (s.type === "local-candidate" && s.candidateType === "relay") relayed = true;
      });
      if (!relayed) return;
      this.do(async () => {
        if (this.offerer) await this.negotiate(true, false);
        else this.signal({ kind: "renegotiate", iceRestart: true });
      });
    }

    failed() {
      const s = this.pc.iceConnectionState;
      return s === "failed" || s === "closed";
    }

    linkAlive(now) {
      return {
        haveData: this.rx.haveData,
        sinceMedia: this.rx.haveData ? now - this.rx.lastArrival : 0,
        failed: this.failed(),
        lossPct: 0, rttMs: 0, jitterMs: 0,
      };
    }

    // stats reads getStats(): the link from them to us (their quality) and
    // from us to them (ours), as engine's linkStats and uplinkStats.
    async stats(now) {
      const down = this.linkAlive(now);
      const up = { haveData: false, failed: down.failed, sinceMedia: 0, lossPct: 0, rttMs: 0, jitterMs: 0 };
      let report;
      try {
        report = await this.pc.getStats();
      } catch (_) {
        return { down, up };
      }
      let pairRTT = 0;
      let remoteRTT = -1;
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") {
          const recv = s.packetsReceived || 0;
          const lost = Math.max(0, s.packetsLost || 0);
          const dRecv = recv - this.rx.recv;
          const dLost = lost - this.rx.lost;
          this.rx.recv = recv;
          this.rx.lost = lost;
          if (dRecv + dLost > 0) down.lossPct = (100 * Math.max(0, dLost)) / (dRecv + dLost);
          down.jitterMs = (s.jitter || 0) * 1000;
        } else if (s.type === "remote-inbound-rtp" && s.kind === "audio") {
          up.haveData = true;
          up.lossPct = 100 * (s.fractionLost || 0);
          up.jitterMs = (s.jitter || 0) * 1000;
          if (s.roundTripTime !== undefined) remoteRTT = s.roundTripTime * 1000;
        } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime) {
          pairRTT = s.currentRoundTripTime * 1000;
        }
      });
      const rtt = remoteRTT >= 0 ? remoteRTT : pairRTT;
      down.rttMs = rtt;
      up.rttMs = rtt;
      return { down, up };
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      this.cancelRestart();
      if (this.srcNode) this.srcNode.disconnect();
      if (this.audioEl) {
        this.audioEl.srcObject = null;
        this.audioEl.remove();
      }
      try { this.pc.close(); } catch (_) { /* closed */ }
    }
  }

  // ---- the engine --------------------------------------------------------------------

  // A recentSet remembers the last n call ids that are over for us.
  class RecentSet {
    constructor(n) { this.n = n; this.order = []; }
    has(v) { return this.order.includes(v); }
    add(v) { if (this.has(v)) return; this.order.push(v); if (this.order.length > this.n) this.order.shift(); }
    remove(v) { this.order = this.order.filter((x) => x !== v); }
  }

  function roundSeconds(ms) {
    return Math.round(ms) / 1000;
  }

  function leaveReason(r) {
    switch (r) {
      case "connectionLost": return "disconnected";
      case "kicked": return "kicked";
      case "":
      case undefined: return "hangup";
    }
    return r;
  }

  // voiceOf says what cleans the microphone track t, as the terminal phone's
  // onAudioDeviceChanged does: here the browser's own echo cancellation,
  // noise suppression and gain control, each "on" or "off" as the browser
  // reports it (getSettings); all "off" without a microphone.
  function voiceOf(t) {
    const s = (t && t.getSettings && t.getSettings()) || {};
    const onOff = (b) => (b ? "on" : "off");
    return { aec: onOff(s.echoCancellation), ns: onOff(s.noiseSuppression), agc: onOff(s.autoGainControl) };
  }

  class Kit {
    constructor() {
      this.listeners = new Map();
      this.reset();
      this.muted = false;
      this.ctx = null;
      this.ringSource = null;
      this.ringing = "";
      this.micStream = null;
      this.camTrack = null;
      this.wantVideo = false;
      this.debugOn = false;
      // The browser's voice processing, on as for any call; music or test
      // tones want it off (setAudioConstraints).
      this.audioConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
      this.videoConstraints = { width: 640, height: 480 };
    }

    reset() {
      this.signal = null;
      this.userId = "";
      this.loggedIn = false;
      this.conn = "offline";
      this.st = "idle";
      this.call = null;
      this.finished = new RecentSet(64);
      this.epoch = 0;
      this.maxCallSize = 9;
      this.iceServers = [];
      this.timers = [];
    }

    // ---- events

    on(name, fn) {
      if (typeof fn !== "function") throw invalidError("on: give a function");
      if (!this.listeners.has(name)) this.listeners.set(name, new Set());
      this.listeners.get(name).add(fn);
    }

    off(name, fn) {
      const set = this.listeners.get(name);
      if (!set) return;
      if (fn) set.delete(fn);
      else set.clear();
    }

    publish(name, fields) {
      const ev = Object.assign({ event: name }, fields || {});
      const set = this.listeners.get(name);
      if (set) {
        for (const fn of [...set]) {
          try {
            fn(ev);
          } catch (e) {
            console.error("TUICallKit listener for " + name + " failed:", e);
          }
        }
      }
      if (this.debugOn && name !== TUICallEvent.onUserVoiceVolumeChanged) console.debug("TUICallKit", JSON.stringify(ev));
    }

    debug(...args) {
      if (this.debugOn) console.debug("TUICallKit", ...args);
    }

    // ---- logging in

    async login(opts) {
      opts = opts || {};
      const userId = String(opts.userId || "").trim();
      const userSig = String(opts.userSig || "").trim();
      if (!USER_ID.test(userId)) throw invalidError("user id \"" + userId + "\": use 1 to 32 letters, digits, _ or -");
      if (!userSig) throw invalidError("a login ticket (userSig) is needed");
      if (this.signal) throw stateError("already logged in");
      this.userId = userId;
      if (Array.isArray(opts.iceServers)) this.iceServers = opts.iceServers;
      const url = opts.server || Kit.defaultServer();
      const sig = new Signal(url, userId, userSig, {
        push: (f) => this.onPush(f),
        state: (s, reply) => this.onConn(s, reply),
        ended: (kind) => this.onEnded(kind),
      });
      this.signal = sig;
      this.setConn("connecting");
      let reply;
      try {
        reply = await sig.open();
      } catch (e) {
        this.signal = null;
        this.setConn("offline");
        throw e;
      }
      this.loggedIn = true;
      this.maxCallSize = reply.maxCallSize || 9;
      if (Array.isArray(reply.iceServers) && !Array.isArray(opts.iceServers)) this.iceServers = reply.iceServers;
      this.startTimers();
      this.setConn("connected");
      if (reply.call) this.reconcile(reply.call);
      return { userId: reply.userId, maxCallSize: this.maxCallSize, ticketExpires: reply.ticketExpires, serverTime: reply.serverTime };
    }

    static defaultServer() {
      const u = new URL("ws", global.location.href);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      u.hash = "";
      u.search = "";
      return u.toString();
    }

    async logout() {
      const sig = this.signal;
      if (!sig) return;
      if (this.call) this.endCall(this.call, "local", "hangup");
      sig.close();
      this.teardown();
    }

    // teardown forgets the session (listeners and the mute stay), so the
    // page can log in again.
    teardown() {
      this.stopTimers();
      this.releaseMedia();
      const listeners = this.listeners;
      const muted = this.muted;
      this.reset();
      this.listeners = listeners;
      this.muted = muted;
      this.setConn("offline");
    }

    setConn(s) {
      if (s === this.conn) return;
      this.conn = s;
      this.publish(TUICallEvent.onConnectionChanged, { state: s });
    }

    onConn(s, reply) {
      if (s === "reconnecting") {
        this.epoch++;
        this.setConn(s);
        return;
      }
      this.setConn(s);
      if (s === "connected" && this.call && this.call.epoch < this.epoch) this.reconcile(reply && reply.call);
    }

    onEnded(kind) {
      this.loggedIn = false;
      if (kind === "kicked") {
        this.endCall(this.call, "lost", "kicked");
        this.publish(TUICallEvent.onKickedOffline, {});
      } else {
        this.endCall(this.call, "lost", "ticketExpired");
        this.publish(TUICallEvent.onUserSigExpired, {});
      }
      this.teardown();
    }

    ready() {
      if (!this.signal || !this.loggedIn) throw new CallError(ErrorCode.NOT_LOGGED_IN, "not logged in to the call server");
      return this.signal;
    }

    // ---- local media

    audioContext() {
      if (!this.ctx) {
        const AC = global.AudioContext || global.webkitAudioContext;
        if (!AC) return null;
        this.ctx = new AC();
      }
      if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
      return this.ctx;
    }

    // unlockAudio is for a click handler: browsers start sound only after
    // the user did something on the page.
    unlockAudio() {
      this.gestureAsked = false;
      const ctx = this.audioContext();
      if (ctx && ctx.state === "suspended") return ctx.resume();
      for (const el of document.querySelectorAll("audio")) el.play().catch(() => {});
      return Promise.resolve();
    }

    audioBlocked() {
      return !!this.ctx && this.ctx.state !== "running";
    }

    needsGesture() {
      if (this.gestureAsked) return;
      this.gestureAsked = true;
      this.publish(TUICallEvent.onError, { code: ErrorCode.MEDIA, message: "the browser blocked sound until you click the page" });
    }

    localStream() {
      if (!this.local) this.local = new MediaStream();
      return this.local;
    }

    // openMic gets the microphone once; it stays open until the call ends.
    openMic() {
      if (!this.micPromise) this.micPromise = this.getMic();
      return this.micPromise;
    }

    async getMic() {
      const gen = this.mediaGen;
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: this.audioConstraints });
        if (gen !== this.mediaGen) {
          // The call ended while the browser was asking: let go at once.
          for (const t of stream.getTracks()) t.stop();
          return;
        }
      } catch (e) {
        // Go on receive-only, as the terminal phone goes on with the null
        // device: the others are still heard.
        const msg = !global.isSecureContext
          ? "the browser gives the microphone only to https:// or localhost pages"
          : (e && e.message) || String(e);
        this.publish(TUICallEvent.onAudioDeviceChanged, { mic: "none", speaker: "default", warning: "microphone: " + msg, voice: voiceOf(null) });
        this.publish(TUICallEvent.onError, { code: ErrorCode.MEDIA, message: "microphone: " + msg });
        stream = this.silentStream();
      }
      this.micStream = stream;
      const t = stream.getAudioTracks()[0];
      if (t) {
        t.enabled = !this.muted;
        this.localStream().addTrack(t);
        if (t.label) this.publish(TUICallEvent.onAudioDeviceChanged, { mic: t.label, speaker: "default", voice: voiceOf(t) });
      }
      const ctx = this.audioContext();
      if (ctx && t) {
        this.micSrc = ctx.createMediaStreamSource(new MediaStream([t]));
        this.micAnalyser = ctx.createAnalyser();
        this.micAnalyser.fftSize = 1024;
        this.micSrc.connect(this.micAnalyser);
      }
    }

    silentStream() {
      const ctx = this.audioContext();
      if (!ctx) return new MediaStream();
      const dest = ctx.createMediaStreamDestination();
      return dest.stream;
    }

    async openCamera() {
      if (this.camTrack) return true;
      const gen = this.mediaGen;
      try {
        const s = await navigator.mediaDevices.getUserMedia({ video: this.videoConstraints });
        if (gen !== this.mediaGen || this.camTrack) {
          for (const t of s.getTracks()) t.stop();
          return !!this.camTrack;
        }
        this.camTrack = s.getVideoTracks()[0];
        this.localStream().addTrack(this.camTrack);
        this.streamsChanged(this.userId);
        return true;
      } catch (e) {
        this.publish(TUICallEvent.onError, { code: ErrorCode.MEDIA, message: "camera: " + ((e && e.message) || e) });
        return false;
      }
    }

    closeCamera() {
      if (!this.camTrack) return;
      this.camTrack.stop();
      this.localStream().removeTrack(this.camTrack);
      this.camTrack = null;
      this.streamsChanged(this.userId);
    }

    releaseMedia() {
      this.mediaGen = (this.mediaGen || 0) + 1; // devices still opening are let go
      if (this.micSrc) this.micSrc.disconnect();
      this.micSrc = this.micAnalyser = null;
      if (this.micStream) for (const t of this.micStream.getTracks()) t.stop();
      this.micStream = null;
      this.micPromise = null;
      this.mediaPromise = null;
      this.mediaUp = false;
      this.closeCamera();
      this.local = null;
      this.wantVideo = false;
    }

    // levelOf reads the last 1024 samples of an analyser as a 0-100 level.
    levelOf(a) {
      if (!this.buf || this.buf.length !== a.fftSize) this.buf = new Float32Array(a.fftSize);
      a.getFloatTimeDomainData(this.buf);
      let sum = 0;
      for (let i = 0; i < this.buf.length; i++) sum += this.buf[i] * this.buf[i];
      return levelFromRMS(Math.sqrt(sum / this.buf.length));
    }

    localLevel() {
      if (this.muted || !this.micAnalyser || this.st !== "inCall") return 0;
      return this.levelOf(this.micAnalyser);
    }

    // ring plays a ringtone cadence ("incoming", "outgoing" or "" for none).
    ring(kind) {
      if (kind === this.ringing) return;
      this.ringing = kind;
      if (this.ringSource) {
        try { this.ringSource.stop(); } catch (_) { /* stopped */ }
        this.ringSource = null;
      }
      const spec = RINGS[kind];
      const ctx = spec && this.audioContext();
      if (!ctx) return;
      const period = spec.cadence.reduce((s, c) => s + c[1], 0);
      const n = Math.round(period * ctx.sampleRate);
      const buf = ctx.createBuffer(1, n, ctx.sampleRate);
      const d = buf.getChannelData(0);
      const ramp = ctx.sampleRate / 100;
      let pos = 0;
      for (const [on, secs] of spec.cadence) {
        const len = Math.round(secs * ctx.sampleRate);
        if (on) {
          for (let i = 0; i < len && pos + i < n; i++) {
            const t = (pos + i) / ctx.sampleRate;
            const edge = Math.min(1, i / ramp, (len - i) / ramp);
            d[pos + i] = (spec.amp / 2) * edge * (Math.sin(2 * Math.PI * spec.f[0] * t) + Math.sin(2 * Math.PI * spec.f[1] * t));
          }
        }
        pos += len;
      }
      const src = ctx.createBufferSource();
      src.buffer = buf;
      src.loop = true;
      src.connect(ctx.destination);
      src.start();
      this.ringSource = src;
    }

    // ---- state

    setState(st) {
      if (this.st === st) return;
      this.debug("call state", this.st, "->", st);
      this.st = st;
      if (st === "dialing" && this.call && this.call.role === TUICallRole.CALLER) this.ring("outgoing");
      else if (st === "incoming") this.ring("incoming");
      else this.ring("");
      if (st === "idle") this.releaseMedia();
    }

    newCall(role) {
      return {
        id: "", room: { intRoomId: 0, strRoomId: "" }, media: 0, role, callerId: role === TUICallRole.CALLER ? this.userId : "",
        invitees: [], groupId: "", userData: "", began: 0, remotes: new Map(), hangupWanted: false,
        selfQuality: NetworkQuality.Unknown, epoch: this.epoch, lastFull: 0,
      };
    }

    callFromInfo(info) {
      const c = this.newCall(info.callerId === this.userId ? TUICallRole.CALLER : TUICallRole.CALLED);
      c.id = info.callId;
      c.room = info.roomId || c.room;
      c.media = info.mediaType || 0;
      c.callerId = info.callerId || "";
      c.invitees = info.calleeIdList || [];
      c.groupId = info.groupId || "";
      c.userData = info.userData || "";
      return c;
    }

    callFor(id) {
      const c = this.call;
      if (!c || !id || this.finished.has(id)) return null;
      if (c.id === id) return c;
      if (c.id === "" && this.st === "dialing") {
        c.id = id;
        return c;
      }
      return null;
    }

    // endCall is where every call ends: exactly one onCallEnd (it had
    // begun for us) or onCallCancelled (it had not).
    endCall(c, how, reason) {
      if (!c || this.call !== c) return;
      if (c.began) {
        this.publish(TUICallEvent.onCallEnd, {
          roomId: c.room, callMediaType: c.media, callRole: c.role,
          totalTime: roundSeconds(Date.now() - c.began), callId: c.id,
        });
      } else {
        let callerId = this.userId;
        if (how === "server" && c.role === TUICallRole.CALLED && reason === "canceled") callerId = c.callerId;
        this.publish(TUICallEvent.onCallCancelled, { callerId });
      }
      for (const id of [...c.remotes.keys()]) this.dropRemote(c, id);
      if (c.id) this.finished.add(c.id);
      this.call = null;
      this.setState("idle");
    }

    onPush(f) {
      switch (f.type) {
        case "incoming": {
          const info = f.call || {};
          if (this.st !== "idle") {
            // In a call already: an invitation now is from a call we left.
            this.signal.send("reject", { callId: info.callId }).catch(() => {});
            return;
          }
          const c = this.callFromInfo(info);
          this.call = c;
          this.setState("incoming");
          this.publish(TUICallEvent.onCallReceived, {
            callerId: c.callerId, calleeIdList: c.invitees.slice(), groupId: c.groupId,
            callMediaType: c.media, userData: c.userData, callId: c.id,
          });
          return;
        }
        case "callBegan": {
          let c = this.callFor(f.callId);
          if (!c && this.st === "idle" && f.call && !this.finished.has(f.callId)) {
            c = this.callFromInfo(f.call); // joined with join
            this.call = c;
          }
          if (!c) return;
          c.room = f.roomId || c.room;
          c.media = f.mediaType || 0;
          c.role = f.callRole || c.role;
          if (!c.began) c.began = Date.now();
          this.setState("inCall");
          this.publish(TUICallEvent.onCallBegin, { roomId: c.room, callMediaType: c.media, callRole: c.role, callId: c.id });
          this.beginMedia(c, f.call);
          return;
        }
        case "userJoined": {
          const c = this.callFor(f.callId);
          if (c) this.addRemote(c, f.userId);
          return;
        }
        case "userLeft": {
          const c = this.callFor(f.callId);
          if (c && c.remotes.has(f.userId)) this.remoteLeft(c, f.userId, leaveReason(f.reason));
          return;
        }
        case "userAway": {
          const c = this.callFor(f.callId);
          const r = c && c.remotes.get(f.userId);
          if (r && !r.away) {
            r.away = true;
            r.awaySince = Date.now();
            this.checkVanished(c, r, Date.now());
          }
          return;
        }
        case "userBack": {
          const c = this.callFor(f.callId);
          if (!c) return;
          const r = c.remotes.get(f.userId);
          if (r) r.away = false;
          else if (this.st === "inCall") this.addRemote(c, f.userId);
          return;
        }
        case "userRejected":
          if (this.callFor(f.callId)) this.publish(TUICallEvent.onUserReject, { userId: f.userId });
          return;
        case "userNoResponse":
          if (this.callFor(f.callId)) {
            this.publish(TUICallEvent.onUserNoResponse, { userId: f.userId, reason: f.reason === "offline" ? "offline" : "timeout" });
          }
          return;
        case "userLineBusy":
          if (this.callFor(f.callId)) this.publish(TUICallEvent.onUserLineBusy, { userId: f.userId });
          return;
        case "userInvited": {
          const c = this.callFor(f.callId);
          if (c && !c.invitees.includes(f.userId)) c.invitees.push(f.userId);
          return;
        }
        case "callCancelled":
        case "callEnded": {
          const c = this.callFor(f.callId);
          if (c) this.endCall(c, "server", f.reason);
          return;
        }
        case "mediaChanged": {
          const c = this.callFor(f.callId);
          if (c && f.newMediaType !== c.media) {
            const old = c.media;
            c.media = f.newMediaType || 0;
            this.publish(TUICallEvent.onCallMediaTypeChanged, { oldCallMediaType: old, newCallMediaType: c.media });
            this.applyMedia(c);
          }
          return;
        }
        case "relay":
          this.onRelay(f);
          return;
        case "kicked":
        case "ticketExpired":
          return; // the close status that follows ends the session
        case "iceServers":
          this.newICEServers(f.iceServers);
          return;
        case "shutdown":
          // In a call nothing is said: it goes on peer to peer and the
          // next server brings it back; "reconnecting" is all there is.
          if (this.st !== "inCall") this.publish(TUICallEvent.onError, { code: 5002, message: "the call server is shutting down; reconnecting" });
          return;
      }
    }

    // beginMedia opens the microphone (and camera) for a call that began
    // and links every joined participant.
    beginMedia(c, info) {
      const joined = info && info.participants ? info.participants.filter((p) => p.state === "joined").map((p) => p.userId) : [];
      for (const id of joined) this.addRemote(c, id);
      this.mediaPromise = (async () => {
        await this.openMic();
        this.wantVideo = c.media === TUICallMediaType.VIDEO;
        if (this.wantVideo) await this.openCamera();
      })();
      this.mediaPromise.then(() => {
        if (this.call !== c || this.st !== "inCall") return;
        this.mediaUp = true;
        for (const r of c.remotes.values()) this.startMedia(c, r);
        if (this.muted) this.relayAll(c.id, { kind: "media", muted: true });
      });
    }

    async applyMedia(c) {
      this.wantVideo = c.media === TUICallMediaType.VIDEO;
      if (this.wantVideo) await this.openCamera();
      else this.closeCamera();
      if (this.call !== c) return;
      for (const r of c.remotes.values()) if (r.peer) r.peer.setVideo();
    }

    addRemote(c, id) {
      if (id === this.userId || c.remotes.has(id)) return;
      const r = { id, peer: null, away: false, awaySince: 0, muted: false, audioAvail: false, videoAvail: false, quality: NetworkQuality.Unknown };
      c.remotes.set(id, r);
      this.publish(TUICallEvent.onUserJoin, { userId: id });
      if (this.st === "inCall" && this.mediaUp) this.startMedia(c, r);
    }

    startMedia(c, r) {
      if (r.peer) return;
      try {
        r.peer = new Peer(this, r.id, c.id);
      } catch (e) {
        this.publish(TUICallEvent.onError, { code: ErrorCode.MEDIA, message: "media link to " + r.id + ": " + ((e && e.message) || e) });
      }
    }

    remoteLeft(c, id, reason) {
      const r = c.remotes.get(id);
      if (!r) return;
      if (r.audioAvail) this.publish(TUICallEvent.onUserAudioAvailable, { userId: id, isAudioAvailable: false });
      if (r.videoAvail) this.publish(TUICallEvent.onUserVideoAvailable, { userId: id, isVideoAvailable: false });
      this.dropRemote(c, id);
      this.publish(TUICallEvent.onUserLeave, { userId: id, reason });
    }

    dropRemote(c, id) {
      const r = c.remotes.get(id);
      if (!r) return;
      c.remotes.delete(id);
      if (r.peer) r.peer.close();
      this.streamsChanged(id);
    }

    onRelay(f) {
      const c = this.callFor(f.callId);
      if (!c) return;
      const m = f.payload;
      if (!m || typeof m !== "object") return;
      const r = c.remotes.get(f.from);
      if (!r) return;
      if (m.kind === "media") {
        r.muted = !!m.muted;
        this.updateAudioAvailable(r, Date.now());
        return;
      }
      if (r.peer) {
        const a = r.peer.admit(m);
        if (a === "stale") return;
        if (a === "anew") {
          // They left and joined back before we saw it: their new
          // connection's offer needs a new one here.
          r.peer.close();
          r.peer = null;
          this.streamsChanged(r.id);
        }
      }
      if (!r.peer) {
        if (this.st !== "inCall" || !this.mediaPromise) return;
        if (!this.mediaUp) {
          // The microphone (or camera) is still opening: take the message
          // once it is (after beginMedia's own continuation, in order).
          this.mediaPromise.then(() => this.onRelay(f));
          return;
        }
        this.startMedia(c, r);
        if (!r.peer || r.peer.admit(m) !== "ok") return;
      }
      r.peer.handle(m);
    }

    onRemoteVideo(peer, on) {
      const c = this.call;
      const r = c && c.remotes.get(peer.remote);
      if (!r || r.peer !== peer || r.videoAvail === on) return;
      r.videoAvail = on;
      this.publish(TUICallEvent.onUserVideoAvailable, { userId: r.id, isVideoAvailable: on });
      this.streamsChanged(r.id);
    }

    // newICEServers takes fresh STUN/TURN servers (TURN credentials are
    // renewed before they expire): new connections use them, and a
    // connection that goes through a relay restarts ICE with them.
    newICEServers(list) {
      if (!Array.isArray(list)) return;
      this.iceServers = list;
      const c = this.call;
      if (!c) return;
      for (const r of c.remotes.values()) if (r.peer) r.peer.newICEServers(list);
    }

    streamsChanged(id) {
      if (this.onStreams) this.onStreams(id);
    }

    relay(callId, to, payload) {
      if (!this.signal) return;
      this.signal.send("relay", { callId, to, payload }).catch((e) => this.debug("relay", to, e));
    }

    relayAll(callId, payload) {
      if (!this.signal) return;
      this.signal.send("relay", { callId, payload }).catch((e) => this.debug("relay", e));
    }

    reconcile(snap) {
      const c = this.call;
      if (!c || !c.id) return;
      const me = snap && snap.callId === c.id && (snap.participants || []).find((p) => p.userId === this.userId);
      if (!me || (me.state !== "ringing" && me.state !== "joined")) {
        this.endCall(c, "lost", "connectionLost");
        return;
      }
      if (this.st !== "inCall") return;
      const joined = new Set();
      for (const p of snap.participants) {
        if (p.state === "joined" && p.userId !== this.userId) {
          joined.add(p.userId);
          this.addRemote(c, p.userId);
          const r = c.remotes.get(p.userId);
          if (r) r.away = !!p.away;
        }
      }
      for (const id of [...c.remotes.keys()]) if (!joined.has(id)) this.remoteLeft(c, id, "hangup");
    }

    // ---- meters (media.go)

    startTimers() {
      this.stopTimers();
      this.timers.push(setInterval(() => this.publishVolume(), VOLUME_INTERVAL));
      this.timers.push(setInterval(() => this.checkLinks(), CHECK_INTERVAL));
    }

    stopTimers() {
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
    }

    publishVolume() {
      const c = this.call;
      if (!c || this.st !== "inCall") return;
      const m = {};
      m[this.userId] = this.localLevel();
      for (const [id, r] of c.remotes) m[id] = r.peer ? r.peer.level() : 0;
      this.publish(TUICallEvent.onUserVoiceVolumeChanged, { volumeMap: m });
    }

    updateAudioAvailable(r, now) {
      const receiving = !!r.peer && r.peer.rx.haveData && now - r.peer.rx.lastArrival < MEDIA_TIMEOUT;
      const avail = receiving && !r.muted;
      if (avail !== r.audioAvail) {
        r.audioAvail = avail;
        this.publish(TUICallEvent.onUserAudioAvailable, { userId: r.id, isAudioAvailable: avail });
      }
    }

    checkVanished(c, r, now) {
      if (!r.away) return false;
      let silent = now - r.awaySince;
      if (r.peer && r.peer.rx.haveData) silent = Math.min(silent, now - r.peer.rx.lastArrival);
      if (silent < VANISH_AFTER) return false;
      this.remoteLeft(c, r.id, "disconnected");
      if (c.remotes.size === 0 && this.signal) {
        const id = c.id;
        this.endCall(c, "local", "hangup");
        this.signal.send("hangup", { callId: id }).catch(() => {});
      }
      return true;
    }

    async checkLinks() {
      const c = this.call;
      if (!c || this.st !== "inCall" || this.checking) return;
      const now = Date.now();
      const full = now - c.lastFull >= QUALITY_INTERVAL;
      if (full) c.lastFull = now;
      for (const r of [...c.remotes.values()]) {
        if (r.peer && r.peer.liveness(now)) this.updateAudioAvailable(r, now);
      }
      let stats = null;
      if (full) {
        this.checking = true;
        try {
          stats = new Map();
          for (const r of c.remotes.values()) if (r.peer) stats.set(r.id, await r.peer.stats(now));
        } finally {
          this.checking = false;
        }
        if (this.call !== c || this.st !== "inCall") return;
      }
      let changed = false;
      let allDown = c.remotes.size > 0;
      const uplink = [];
      for (const r of [...c.remotes.values()]) {
        if (this.checkVanished(c, r, now)) continue;
        this.updateAudioAvailable(r, now);
        let q;
        if (!r.peer) {
          q = NetworkQuality.Unknown;
        } else if (full && stats.has(r.id)) {
          const s = stats.get(r.id);
          q = qualityOf(s.down);
          uplink.push(s.up);
        } else {
          q = r.quality;
          if (qualityOf(r.peer.linkAlive(now)) === NetworkQuality.Down) q = NetworkQuality.Down;
          else if (r.quality === NetworkQuality.Down) q = NetworkQuality.Unknown;
        }
        if (q !== NetworkQuality.Down) allDown = false;
        if ((q === NetworkQuality.Down) !== (r.quality === NetworkQuality.Down)) changed = true;
        r.quality = q;
      }
      if (c !== this.call) return;
      if (!full && !changed) return;
      let self = NetworkQuality.Unknown;
      if (allDown) {
        self = NetworkQuality.Down;
      } else if (!full) {
        self = c.selfQuality;
      } else {
        for (const up of uplink) {
          const q = qualityOf(up);
          if (q > self && q !== NetworkQuality.Down) self = q;
        }
      }
      c.selfQuality = self;
      const m = {};
      m[this.userId] = self;
      for (const [id, r] of c.remotes) m[id] = r.quality;
      this.publish(TUICallEvent.onUserNetworkQualityChanged, { networkQuality: m });
    }

    // ---- actions (engine.go)

    cleanUsers(list) {
      if (typeof list === "string") list = list.split(/[\s,]+/);
      if (!Array.isArray(list)) throw invalidError("name at least one user to call");
      const out = [];
      for (let u of list) {
        u = String(u).trim();
        if (!u) continue;
        if (!USER_ID.test(u)) throw invalidError("user id \"" + u + "\": use 1 to 32 letters, digits, _ or -");
        if (u === this.userId) throw invalidError("you cannot call yourself");
        if (!out.includes(u)) out.push(u);
      }
      if (out.length === 0) throw invalidError("name at least one user to call");
      return out;
    }

    async callUsers(list, params) {
      if (list && typeof list === "object" && !Array.isArray(list)) {
        params = list;
        list = params.userIdList || params.userId;
      }
      params = params || {};
      const users = this.cleanUsers(list);
      const media = params.callMediaType === undefined ? 0 : params.callMediaType;
      if (media !== 0 && media !== 1) throw invalidError("media type " + media + ": want 0 (voice) or 1 (video)");
      const timeout = params.timeout || 0;
      if (timeout && !(timeout >= 1 && timeout <= 600)) throw invalidError("timeout " + timeout + ": want 1 to 600 seconds");
      if (users.length > this.maxCallSize - 1) {
        throw new CallError(3005, "call: at most " + (this.maxCallSize - 1) + " people can be invited (the server's call size is " + this.maxCallSize + ")");
      }
      const sig = this.ready();
      if (this.st !== "idle") throw stateError("already in a call (" + this.st + ")");
      const c = this.newCall(TUICallRole.CALLER);
      c.media = media;
      c.invitees = users;
      c.groupId = params.groupId || "";
      c.userData = params.userData || "";
      this.call = c;
      this.setState("dialing");
      // The microphone opens while it rings, so it runs when the call connects.
      this.openMic();
      const fields = { calleeIdList: users, mediaType: media, groupId: c.groupId, userData: c.userData };
      if (timeout) fields.timeout = Math.round(timeout);
      if (params.roomId) fields.roomId = params.roomId;
      let reply;
      try {
        reply = await sig.send("invite", fields);
      } catch (e) {
        if (this.call === c) {
          this.call = null;
          this.setState("idle");
        }
        throw e;
      }
      const info = reply.call || {};
      if (!c.id) c.id = info.callId;
      c.room = info.roomId || c.room;
      if (c.hangupWanted && !this.finished.has(info.callId)) {
        this.finished.add(info.callId);
        sig.send("hangup", { callId: info.callId }).catch(() => {});
      }
    }

    incoming(verb) {
      const sig = this.ready();
      if (this.st !== "incoming") throw stateError("no incoming call to " + verb);
      return sig;
    }

    async accept() {
      const sig = this.incoming("accept");
      const id = this.call.id;
      this.openMic(); // the callBegan that follows links the peers once it is open
      await sig.send("accept", { callId: id });
    }

    async reject() {
      const sig = this.incoming("reject");
      const id = this.call.id;
      this.endCall(this.call, "local", "rejected");
      await this.ignoreGone(sig.send("reject", { callId: id }));
    }

    async hangup() {
      const sig = this.ready();
      const c = this.call;
      if (!c) throw stateError("no call to hang up");
      const id = c.id;
      const rejecting = this.st === "incoming";
      if (!id) c.hangupWanted = true;
      this.endCall(c, "local", rejecting ? "rejected" : "hangup");
      if (!id) return;
      await this.ignoreGone(sig.send(rejecting ? "reject" : "hangup", { callId: id }));
    }

    async ignoreGone(p) {
      try {
        await p;
      } catch (e) {
        if (e.code === 3001 || e.code === 3003 || e.code === 3002) return;
        throw e;
      }
    }

    async invite(list) {
      const users = this.cleanUsers(list);
      const sig = this.ready();
      const c = this.call;
      if (!c || !c.id || (this.st !== "inCall" && this.st !== "dialing")) throw stateError("not in a call: place one with call");
      await sig.send("inviteMore", { callId: c.id, calleeIdList: users });
    }

    async join(callId) {
      callId = String(callId || "").trim();
      if (!callId) throw invalidError("join: give a call id");
      const sig = this.ready();
      if (this.st === "incoming" && this.call.id === callId) return this.accept();
      if (this.st !== "idle") throw stateError("already in a call (" + this.st + ")");
      this.finished.remove(callId);
      this.openMic();
      const reply = await sig.send("join", { callId });
      const info = reply.call || {};
      if (this.st === "idle" && !this.call && !this.finished.has(info.callId)) {
        // Nobody else is in yet: wait for them as a caller waits.
        this.call = this.callFromInfo(info);
        this.setState("dialing");
      }
    }

    async switchMedia(type) {
      if (type === "video") type = 1;
      if (type === "voice" || type === "audio") type = 0;
      if (type !== 0 && type !== 1) throw invalidError("media type " + type + ": want 0 (voice) or 1 (video)");
      const sig = this.ready();
      const c = this.call;
      if (!c || !c.id || this.st === "incoming") throw stateError("not in a call");
      if (c.media === type) return;
      await sig.send("switchMedia", { callId: c.id, mediaType: type });
    }

    // mute mutes (true) or unmutes (false) the microphone; it holds across
    // calls, as in the terminal phone.
    mute(muted) {
      muted = muted === undefined ? true : !!muted;
      if (this.muted === muted) return;
      this.muted = muted;
      if (this.micStream) for (const t of this.micStream.getAudioTracks()) t.enabled = !muted;
      this.publish(TUICallEvent.onUserAudioAvailable, { userId: this.userId, isAudioAvailable: !muted });
      const c = this.call;
      if (c && c.id && this.st === "inCall") this.relayAll(c.id, { kind: "media", muted });
    }
  }

  // ---- the public object -------------------------------------------------------------

  const kit = new Kit();

  const TUICallKit = Object.freeze({
    on: (name, fn) => kit.on(name, fn),
    off: (name, fn) => kit.off(name, fn),
    login: (opts) => kit.login(opts),
    logout: () => kit.logout(),
    call: (users, params) => kit.callUsers(users, params),
    accept: () => kit.accept(),
    reject: () => kit.reject(),
    hangup: () => kit.hangup(),
    invite: (users) => kit.invite(users),
    join: (callId) => kit.join(callId),
    switchMedia: (type) => kit.switchMedia(type),
    mute: (muted) => kit.mute(muted),
    isMuted: () => kit.muted,
    // ringing is the ringtone playing: "incoming", "outgoing" (ringback) or "".
    ringing: () => kit.ringing,
    unlockAudio: () => kit.unlockAudio(),
    audioBlocked: () => kit.audioBlocked(),
    // What a page needs to draw the call.
    userId: () => kit.userId,
    maxCallSize: () => kit.maxCallSize,
    state: () => kit.st,
    connection: () => kit.conn,
    callInfo: () => {
      const c = kit.call;
      if (!c) return null;
      return {
        callId: c.id, roomId: c.room, callMediaType: c.media, callRole: c.role, callerId: c.callerId,
        calleeIdList: c.invitees.slice(), groupId: c.groupId, userData: c.userData, began: c.began,
        participants: [...c.remotes.keys()],
      };
    },
    localStream: () => kit.localStream(),
    remoteStream: (userId) => {
      const r = kit.call && kit.call.remotes.get(userId);
      if (!r || !r.peer) return null;
      const tracks = [r.peer.audioTrack, r.peer.videoTrack].filter(Boolean);
      return new MediaStream(tracks);
    },
    isVideoAvailable: (userId) => {
      const r = kit.call && kit.call.remotes.get(userId);
      return !!(r && r.videoAvail);
    },
    peerConnection: (userId) => {
      const r = kit.call && kit.call.remotes.get(userId);
      return r && r.peer ? r.peer.pc : null;
    },
    onStreams: (fn) => { kit.onStreams = fn; },
    setDebug: (on) => { kit.debugOn = !!on; },
    // setAudioConstraints changes the microphone's getUserMedia audio
    // constraints for the next call ({noiseSuppression: false}, ...).
    setAudioConstraints: (c) => { kit.audioConstraints = Object.assign({}, kit.audioConstraints, c); },
    // setVideoConstraints does the same for the camera ({width, height, frameRate}).
    setVideoConstraints: (c) => { kit.videoConstraints = Object.assign({}, kit.videoConstraints, c); },
  });

  global.TUICallKit = TUICallKit;
  global.TUICallEvent = TUICallEvent;
  global.TUICallMediaType = TUICallMediaType;
  global.TUICallRole = TUICallRole;
  global.TUICallNetworkQuality = NetworkQuality;
  global.TUICallNetworkQualityNames = QualityNames;
  global.TUICallErrorCode = ErrorCode;
})(window);
