// The web phone's screen: what the terminal phone (tui/) shows, drawn from
// TUICallKit's events, with the same keys. Everything it does goes through
// the public TUICallKit API, so it is also an example of using it.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const E = TUICallEvent;
  const STORE_KEY = "softphone.login";

  const ui = {
    user: "",
    call: null, // {dir, media, caller, peers: Map(id -> status), began}
    muted: false,
    timer: null,
    storage: null, // where the ticket is kept: sessionStorage, or localStorage when remembered
  };

  // ---- the log and the status line (tui/eventlog.go) ----------------------

  function addLog(level, text) {
    const li = document.createElement("li");
    li.className = level;
    const t = document.createElement("time");
    t.textContent = new Date().toTimeString().slice(0, 8);
    li.append(t, document.createTextNode(text));
    const log = $("log");
    log.append(li);
    while (log.children.length > 500) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  function setStatus(level, text) {
    const s = $("status");
    s.className = level;
    s.textContent = text;
  }

  const mediaName = (m) => (m === TUICallMediaType.VIDEO ? "video" : "voice");

  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const two = (n) => String(n).padStart(2, "0");
    if (s >= 3600) return Math.floor(s / 3600) + ":" + two(Math.floor(s / 60) % 60) + ":" + two(s % 60);
    return two(Math.floor(s / 60)) + ":" + two(s % 60);
  }

  function joinIDs(ids) {
    if (ids.length <= 1) return ids.join("");
    return ids.slice(0, -1).join(", ") + " and " + ids[ids.length - 1];
  }

  // ---- screens ------------------------------------------------------------

  function show(screen) {
    for (const id of ["login", "phone", "gone"]) $(id).hidden = id !== screen;
  }

  function render() {
    const st = TUICallKit.state();
    $("idle").hidden = st !== "idle";
    $("incoming").hidden = st !== "incoming";
    $("outgoing").hidden = st !== "dialing";
    $("incall").hidden = st !== "inCall";
    if (st !== "inCall") $("invite-form").hidden = true;
    const c = ui.call;
    if (st === "incoming" && c) {
      $("incoming-title").textContent = "Incoming " + mediaName(c.media) + " call from " + c.caller;
      $("incoming-data").textContent = c.userData || "";
      const others = [...c.peers.keys()].filter((id) => id !== c.caller);
      $("incoming-others").textContent = others.length ? "also invited: " + joinIDs(others) : "";
    }
    if (st === "dialing" && c) {
      const ids = [...c.peers.keys()];
      $("outgoing-title").textContent = ids.length
        ? "Calling " + joinIDs(ids) + " (" + mediaName(c.media) + ")…"
        : "Waiting for the others to join…";
      const ul = $("outgoing-peers");
      ul.replaceChildren();
      for (const [id, status] of c.peers) {
        const li = document.createElement("li");
        li.dataset.status = status;
        li.textContent = id + " · " + status;
        ul.append(li);
      }
    }
    if (st === "inCall" && c) {
      $("call-title").textContent = mediaName(c.media) + " call";
      $("btn-media").firstChild.textContent = c.media === TUICallMediaType.VIDEO ? "Voice " : "Video ";
      renderTiles();
    }
    $("btn-mute").firstChild.textContent = ui.muted ? "Unmute " : "Mute ";
    const mic = $("mic-state");
    mic.textContent = ui.muted ? "microphone muted" : "";
    mic.className = ui.muted ? "muted" : "";
    $("keys").textContent = keyHelp(st);
  }

  function keyHelp(st) {
    switch (st) {
      case "idle": return "c call · m mute · ? help · q quit";
      case "incoming": return "a/enter accept · r reject · m mute · ? help · q quit";
      case "dialing": return "h/esc cancel · m mute · ? help · q quit";
      case "inCall": return "h hang up · m mute · i invite · v " + (ui.call && ui.call.media === 1 ? "voice" : "video") + " · ? help · q quit";
    }
    return "";
  }

  // ---- tiles: one per participant, with a meter and network quality ---------

  function tile(id) {
    let t = document.querySelector('#tiles .tile[data-user="' + CSS.escape(id) + '"]');
    if (t) return t;
    t = document.createElement("div");
    t.className = "tile" + (id === ui.user ? " self" : "");
    t.dataset.user = id;
    t.innerHTML =
      '<div class="avatar"></div><video autoplay playsinline muted hidden></video>' +
      '<div class="info"><span class="name"></span><span class="flags"></span><span class="quality" data-quality="0">Unknown</span></div>' +
      '<div class="meter" data-volume="0"><div class="bar"></div></div>';
    t.querySelector(".avatar").textContent = id.slice(0, 1).toUpperCase();
    t.querySelector(".name").textContent = id === ui.user ? id + " (you)" : id;
    $("tiles").append(t);
    return t;
  }

  function renderTiles() {
    const c = ui.call;
    if (!c) return;
    const want = new Set([ui.user]);
    for (const [id, status] of c.peers) if (status === "joined" || status === "ringing") want.add(id);
    for (const t of [...document.querySelectorAll("#tiles .tile")]) if (!want.has(t.dataset.user)) t.remove();
    for (const id of want) {
      const t = tile(id);
      t.dataset.status = id === ui.user ? "joined" : c.peers.get(id);
      t.querySelector(".flags").textContent = (id === ui.user ? ui.muted : c.mutedPeers.has(id)) ? "muted" : "";
      refreshVideo(id);
    }
  }

  function refreshVideo(id) {
    const t = document.querySelector('#tiles .tile[data-user="' + CSS.escape(id) + '"]');
    if (!t) return;
    const v = t.querySelector("video");
    let tracks = [];
    if (id === ui.user) {
      tracks = TUICallKit.localStream().getVideoTracks();
    } else if (TUICallKit.isVideoAvailable(id)) {
      const s = TUICallKit.remoteStream(id);
      tracks = s ? s.getVideoTracks() : [];
    }
    if (tracks.length === 0) {
      v.hidden = true;
      v.srcObject = null;
      return;
    }
    if (!v.srcObject || v.srcObject.getVideoTracks()[0] !== tracks[0]) {
      v.srcObject = new MediaStream(tracks);
      v.play().catch(() => {});
    }
    v.hidden = false;
  }

  function onVolume(e) {
    for (const [id, vol] of Object.entries(e.volumeMap)) {
      const t = document.querySelector('#tiles .tile[data-user="' + CSS.escape(id) + '"]');
      if (!t) continue;
      const v = Math.min(100, Math.max(0, vol | 0));
      const m = t.querySelector(".meter");
      m.dataset.volume = String(v);
      m.firstChild.style.width = v + "%";
    }
  }

  function onQuality(e) {
    for (const [id, q] of Object.entries(e.networkQuality)) {
      const t = document.querySelector('#tiles .tile[data-user="' + CSS.escape(id) + '"]');
      if (!t) continue;
      const el = t.querySelector(".quality");
      el.dataset.quality = String(q);
      el.textContent = TUICallNetworkQualityNames[q] || "Unknown";
    }
  }

  // ---- call events (tui/events.go) -------------------------------------------

  function newCall(dir, media, caller, ids, status) {
    const peers = new Map();
    for (const id of ids) if (id !== ui.user) peers.set(id, status);
    return { dir, media, caller, peers, began: 0, userData: "", mutedPeers: new Set() };
  }

  // ensureCall picks up a call this page did not place itself (a script
  // called TUICallKit.call or join).
  function ensureCall() {
    if (ui.call) return ui.call;
    const info = TUICallKit.callInfo();
    if (!info) return null;
    const out = info.callRole === TUICallRole.CALLER;
    ui.call = newCall(out ? "out" : "in", info.callMediaType, info.callerId, info.calleeIdList.concat([info.callerId]), "ringing");
    for (const id of info.participants) ui.call.peers.set(id, "joined");
    return ui.call;
  }

  function peerDone(id, status, level, what) {
    addLog(level, id + " " + what);
    const c = ensureCall();
    if (c && c.peers.has(id)) c.peers.set(id, status);
    render();
  }

  function endCall() {
    ui.call = null;
    clearInterval(ui.timer);
    ui.timer = null;
    $("tiles").replaceChildren();
    render();
    // The kit goes idle right after the event that ended the call.
    setTimeout(render, 0);
  }

  function wire() {
    TUICallKit.on(E.onConnectionChanged, (e) => {
      const c = $("conn");
      c.dataset.state = e.state;
      c.textContent = e.state;
      if (e.state === "reconnecting") addLog("warn", "lost the server connection: reconnecting…");
      if (e.state === "connected") addLog("info", "connected to " + location.host);
    });
    TUICallKit.on(E.onAudioDeviceChanged, (e) => {
      if (e.warning) {
        addLog("warn", "audio: " + e.warning);
        setStatus("warn", "Audio: " + e.warning);
      } else {
        addLog("info", "audio: mic " + e.mic);
      }
    });
    TUICallKit.on(E.onError, (e) => {
      addLog("error", "error " + e.code + ": " + e.message);
      setStatus("error", "error " + e.code + ": " + e.message);
      if (TUICallKit.audioBlocked()) $("sound").hidden = false;
    });
    TUICallKit.on(E.onCallReceived, (e) => {
      ui.call = newCall("in", e.callMediaType, e.callerId, [e.callerId, ...e.calleeIdList], "ringing");
      ui.call.peers.set(e.callerId, "joined");
      ui.call.userData = e.userData;
      setStatus("", "");
      addLog("info", "incoming " + mediaName(e.callMediaType) + " call from " + e.callerId);
      if (TUICallKit.audioBlocked()) $("sound").hidden = false;
      render();
    });
    TUICallKit.on(E.onCallBegin, (e) => {
      const c = ensureCall() || newCall(e.callRole === TUICallRole.CALLER ? "out" : "in", e.callMediaType, "", [], "joined");
      ui.call = c;
      c.media = e.callMediaType;
      c.began = Date.now();
      c.callId = e.callId;
      // The table shows who is in the call or still ringing.
      for (const [id, st] of c.peers) if (st !== "joined" && st !== "ringing") c.peers.delete(id);
      if (c.dir === "out" && c.peers.size === 1) for (const id of c.peers.keys()) c.peers.set(id, "joined");
      addLog("info", "call connected (" + mediaName(c.media) + ")");
      setStatus("", "");
      clearInterval(ui.timer);
      ui.timer = setInterval(() => ($("call-time").textContent = clock(Date.now() - c.began)), 1000);
      $("call-time").textContent = "00:00";
      render();
    });
    TUICallKit.on(E.onCallEnd, (e) => {
      const d = clock(e.totalTime * 1000);
      addLog("info", "call ended after " + d);
      setStatus("info", "Call ended after " + d + ".");
      endCall();
    });
    TUICallKit.on(E.onCallCancelled, (e) => {
      const c = ensureCall();
      if (!c) return endCall();
      if (c.dir === "in" && !c.began) {
        if (c.rejecting) addLog("info", "you rejected the call from " + c.caller);
        else if (e.callerId === c.caller) {
          addLog("warn", c.caller + " hung up before you answered");
          setStatus("warn", "Missed call from " + c.caller + " (they hung up).");
        } else {
          addLog("warn", "missed call from " + c.caller);
          setStatus("warn", "Missed call from " + c.caller + ".");
        }
      } else if (!c.began) {
        const outcome = [...c.peers].filter(([, s]) => s !== "ringing" && s !== "joined").map(([id, s]) => id + " " + outcomeText(s));
        addLog("info", "call not connected" + (outcome.length ? ": " + outcome.join("; ") : ""));
        setStatus("warn", outcome.length ? outcome.join("; ") + "." : "Call cancelled.");
      }
      endCall();
    });
    TUICallKit.on(E.onUserReject, (e) => peerDone(e.userId, "rejected", "error", "declined the call"));
    TUICallKit.on(E.onUserNoResponse, (e) => {
      if (e.reason === "offline") peerDone(e.userId, "offline", "error", "is offline or unknown: nobody with that id is logged in");
      else peerDone(e.userId, "noanswer", "warn", "did not answer");
    });
    TUICallKit.on(E.onUserLineBusy, (e) => peerDone(e.userId, "busy", "warn", "is busy in another call"));
    TUICallKit.on(E.onUserJoin, (e) => {
      if (!ensureCall()) return;
      ui.call.peers.set(e.userId, "joined");
      addLog("info", e.userId + " joined");
      render();
    });
    TUICallKit.on(E.onUserLeave, (e) => {
      if (!ui.call) return;
      ui.call.peers.delete(e.userId);
      if (e.reason === "disconnected") addLog("warn", e.userId + " dropped (connection lost)");
      else if (e.reason === "kicked") addLog("warn", e.userId + " left (signed in elsewhere)");
      else addLog("info", e.userId + " left");
      render();
    });
    TUICallKit.on(E.onCallMediaTypeChanged, (e) => {
      if (ui.call) ui.call.media = e.newCallMediaType;
      addLog("info", "call switched to " + mediaName(e.newCallMediaType));
      render();
    });
    TUICallKit.on(E.onUserVideoAvailable, (e) => {
      addLog("info", e.userId + " turned video " + (e.isVideoAvailable ? "on" : "off"));
      refreshVideo(e.userId);
    });
    TUICallKit.on(E.onUserAudioAvailable, (e) => {
      if (e.userId === ui.user) {
        ui.muted = !e.isAudioAvailable;
        render();
        return;
      }
      const c = ui.call;
      if (!c) return;
      const was = c.mutedPeers.has(e.userId);
      if (e.isAudioAvailable) c.mutedPeers.delete(e.userId);
      else c.mutedPeers.add(e.userId);
      if (was !== !e.isAudioAvailable) addLog("info", e.userId + (e.isAudioAvailable ? " unmuted" : " muted"));
      render();
    });
    TUICallKit.on(E.onUserVoiceVolumeChanged, onVolume);
    TUICallKit.on(E.onUserNetworkQualityChanged, onQuality);
    TUICallKit.on(E.onKickedOffline, () => {
      addLog("error", "signed in elsewhere: this session was logged out");
      gone("Signed in elsewhere", "This session was logged out because " + ui.user + " logged in somewhere else.");
    });
    TUICallKit.on(E.onUserSigExpired, () => {
      addLog("error", "login ticket (userSig) expired");
      forget();
      gone("Login ticket expired", "Your ticket (userSig) expired. Log in with a new one, or ask for a new link.");
    });
    TUICallKit.onStreams((id) => refreshVideo(id));
  }

  function outcomeText(s) {
    switch (s) {
      case "rejected": return "declined";
      case "busy": return "is busy";
      case "noanswer": return "did not answer";
      case "offline": return "is offline or unknown (not logged in)";
    }
    return s;
  }

  function gone(title, text) {
    endCall();
    $("gone-title").textContent = title;
    $("gone-text").textContent = text;
    show("gone");
  }

  // ---- actions ------------------------------------------------------------------

  function act(p) {
    Promise.resolve()
      .then(() => p())
      .catch((e) => {
        const text = e && e.code ? "error " + e.code + ": " + e.message : String((e && e.message) || e);
        addLog("error", text);
        setStatus("error", text);
        render();
      });
  }

  function placeCall(users, video) {
    act(async () => {
      const ids = String(users).split(/[\s,]+/).filter(Boolean);
      ui.call = newCall("out", video ? 1 : 0, ui.user, ids, "ringing");
      setStatus("", "");
      try {
        await TUICallKit.call(ids, { callMediaType: video ? TUICallMediaType.VIDEO : TUICallMediaType.AUDIO });
      } catch (e) {
        ui.call = null;
        throw e;
      } finally {
        render();
      }
    });
  }

  const accept = () => act(() => TUICallKit.accept());
  const reject = () => act(() => {
    if (ui.call) ui.call.rejecting = true;
    return TUICallKit.reject();
  });
  const hangup = () => act(() => TUICallKit.hangup());
  const toggleMute = () => act(() => TUICallKit.mute(!TUICallKit.isMuted()));
  const switchMedia = () => act(() => TUICallKit.switchMedia(ui.call && ui.call.media === 1 ? 0 : 1));

  function openInvite(ev) {
    if (TUICallKit.state() !== "inCall") return;
    if (ev && ev.key) ui.swallow = ev.key;
    $("invite-form").hidden = false;
    $("invite-users").focus();
  }

  function quit() {
    act(async () => {
      await TUICallKit.logout();
      forget();
      endCall();
      $("login-user").value = ui.user;
      $("login-sig").value = "";
      show("login");
    });
  }

  // ---- keys (tui/keys.go) ----------------------------------------------------

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    $("sound").hidden = true;
    const confirm = !$("confirm").hidden;
    const help = !$("help").hidden;
    const k = ev.key;
    if (confirm) {
      ev.preventDefault();
      if (k === "y" || k === "q") {
        $("confirm").hidden = true;
        quit();
      } else if (k === "n" || k === "Escape") {
        $("confirm").hidden = true;
      }
      return;
    }
    const inField = ev.target instanceof HTMLInputElement;
    if (inField) {
      if (k === "Escape") {
        ev.preventDefault();
        ev.target.blur();
        if (ev.target.id === "invite-users") $("invite-form").hidden = true;
      } else if (k === "Tab" && ev.target.id === "dial-users") {
        ev.preventDefault();
        $("dial-video").checked = !$("dial-video").checked;
      }
      return; // enter submits the form
    }
    if ($("phone").hidden) return;
    const st = TUICallKit.state();
    if (help && (k === "Escape" || k === "?")) {
      ev.preventDefault();
      $("help").hidden = true;
      return;
    }
    switch (k) {
      case "?":
        $("help").hidden = !$("help").hidden;
        break;
      case "c":
        if (st !== "idle") return;
        ui.swallow = k;
        $("dial-users").focus();
        break;
      case "a":
      case "Enter":
        if (st !== "incoming") return;
        accept();
        break;
      case "r":
        if (st !== "incoming") return;
        reject();
        break;
      case "h":
      case "Escape":
        if (st === "incoming") reject();
        else if (st === "dialing" || st === "inCall") hangup();
        else return;
        break;
      case "m":
        toggleMute();
        break;
      case "i":
        if (st !== "inCall") return;
        openInvite(ev);
        break;
      case "v":
        if (st !== "inCall") return;
        switchMedia();
        break;
      case "q":
        if (st === "idle") quit();
        else $("confirm").hidden = false;
        break;
      default:
        return;
    }
    ev.preventDefault();
  }

  // ---- logging in: the form, a link's fragment, or a kept ticket ---------------

  function forget() {
    for (const s of [sessionStorage, localStorage]) {
      try { s.removeItem(STORE_KEY); } catch (_) { /* storage off */ }
    }
  }

  function keep(user, sig, remember) {
    forget();
    ui.storage = remember ? localStorage : sessionStorage;
    try {
      ui.storage.setItem(STORE_KEY, JSON.stringify({ user, sig }));
    } catch (_) { /* storage off: the ticket lives in this page only */ }
    $("remember").checked = remember;
  }

  function kept() {
    for (const [s, remembered] of [[sessionStorage, false], [localStorage, true]]) {
      try {
        const v = JSON.parse(s.getItem(STORE_KEY) || "null");
        if (v && v.user && v.sig) return { user: v.user, sig: v.sig, remembered };
      } catch (_) { /* nothing kept */ }
    }
    return null;
  }

  // fromLink reads #user=..&sig=..&call=..&media=video and removes it from
  // the address bar and the history entry at once. The fragment never
  // reaches the server.
  function fromLink() {
    if (!location.hash || location.hash.length < 2) return null;
    const p = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, "", location.pathname + location.search);
    const user = p.get("user");
    const sig = p.get("sig");
    if (!user || !sig) return null;
    return { user, sig, call: p.get("call") || "", video: p.get("media") === "video" };
  }

  async function login(user, sig, remember, then) {
    $("login-error").textContent = "";
    try {
      const r = await TUICallKit.login({ userId: user, userSig: sig });
      ui.user = r.userId;
      keep(user, sig, remember);
      $("me").textContent = ui.user;
      $("remember-box").hidden = false;
      $("dial-users").title = "up to " + (r.maxCallSize - 1) + " people";
      $("log").replaceChildren();
      addLog("info", "logged in as " + ui.user + " (calls of up to " + r.maxCallSize + " people)");
      show("phone");
      render();
      if (TUICallKit.audioBlocked()) $("sound").hidden = false;
      if (then) then();
    } catch (e) {
      if (e.code === 2001 || e.code === 2002) forget();
      $("login-user").value = user;
      show("login");
      $("login-error").textContent = (e.code ? "error " + e.code + ": " : "") + e.message;
    }
  }

  function start() {
    wire();
    document.addEventListener("keydown", onKey);
    // The key that opened a prompt must not also be typed into it: its
    // keypress is dropped (when the keydown's preventDefault did not).
    document.addEventListener("keypress", (ev) => {
      if (ui.swallow && ev.key === ui.swallow) ev.preventDefault();
      ui.swallow = "";
    });
    document.addEventListener("keyup", () => (ui.swallow = ""));
    document.addEventListener("pointerdown", () => {
      TUICallKit.unlockAudio();
      $("sound").hidden = true;
    });
    $("sound").addEventListener("click", () => TUICallKit.unlockAudio());
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      TUICallKit.unlockAudio();
      login($("login-user").value.trim(), $("login-sig").value.trim(), $("login-remember").checked);
    });
    $("dial-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const users = $("dial-users").value;
      $("dial-users").blur();
      placeCall(users, $("dial-video").checked);
    });
    $("join-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = $("join-id").value.trim();
      $("join-id").blur();
      act(async () => {
        await TUICallKit.join(id);
        if (!ui.call) ui.call = newCall("in", 0, "", [], "joined");
        render();
      });
    });
    $("invite-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const users = $("invite-users").value;
      $("invite-users").value = "";
      $("invite-form").hidden = true;
      act(async () => {
        const ids = users.split(/[\s,]+/).filter(Boolean);
        await TUICallKit.invite(ids);
        for (const id of ids) if (ui.call && !ui.call.peers.has(id)) ui.call.peers.set(id, "ringing");
        addLog("info", "invited " + joinIDs(ids));
        render();
      });
    });
    $("btn-accept").addEventListener("click", accept);
    $("btn-reject").addEventListener("click", reject);
    $("btn-cancel").addEventListener("click", hangup);
    $("btn-hangup").addEventListener("click", hangup);
    $("btn-mute").addEventListener("click", toggleMute);
    $("btn-invite").addEventListener("click", () => openInvite());
    $("btn-media").addEventListener("click", switchMedia);
    $("btn-relogin").addEventListener("click", () => {
      // A kicked session's ticket is still good: log in with it (which in
      // turn logs the other place out). An expired one was forgotten.
      const k = kept();
      if (k) {
        TUICallKit.unlockAudio();
        login(k.user, k.sig, k.remembered);
        return;
      }
      $("login-user").value = ui.user;
      show("login");
      $("login-sig").focus();
    });
    $("remember").addEventListener("change", () => {
      const k = kept();
      if (k) keep(k.user, k.sig, $("remember").checked);
    });

    const link = fromLink();
    if (link) {
      login(link.user, link.sig, false, link.call ? () => placeCall(link.call, link.video) : null);
      return;
    }
    const k = kept();
    if (k) {
      login(k.user, k.sig, k.remembered);
      return;
    }
    show("login");
    $("login-user").focus();
  }

  // Deferred scripts run before DOMContentLoaded: a page script that wants
  // every event can subscribe in a DOMContentLoaded listener of its own
  // registered earlier, before this logs in.
  document.addEventListener("DOMContentLoaded", start);
})();
