package loadtest

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of Run. It marshals to JSON (for scripts
// such as `make bench`); WriteTable prints it for people.
type Report struct {
	Server string `json:"server"`
	Users  int    `json:"users"`
	Pairs  int    `json:"pairs"`
	Media  bool   `json:"media"`
	// OfferedRate is the configured aggregate rate of new calls (calls/s)
	// and Duration how long it was offered, in seconds.
	OfferedRate float64 `json:"offeredCallsPerSec"`
	Duration    float64 `json:"durationSec"`
	HoldSec     float64 `json:"holdSec"`

	LoggedIn    int         `json:"loggedIn"`
	LoginFailed int         `json:"loginFailed"`
	LoginSec    float64     `json:"loginSec"` // wall time to log everyone in
	Login       Percentiles `json:"login"`    // per user: dial + login round trip

	// Attempted calls were placed (an invite was sent); Completed went
	// through invite → accept → both connected → hangup → both ended;
	// Failed did not, for the reasons in FailedBy. NotPlaced are calls the
	// schedule wanted while every pair was still busy with an earlier call
	// (the server is slow, or there are too few --users for the rate and
	// --hold): they count as failures of the run, not as a lower rate.
	Attempted int            `json:"attempted"`
	Completed int            `json:"completed"`
	Failed    int            `json:"failed"`
	FailedBy  map[string]int `json:"failedBy,omitempty"`
	NotPlaced int            `json:"notPlaced"`
	// AchievedRate is completed calls per second over the time from the
	// first invite to the last call's end.
	AchievedRate float64 `json:"achievedCallsPerSec"`
	// PeakConcurrent is the most calls in progress at once.
	PeakConcurrent int `json:"peakConcurrent"`

	// Signaling is the round trip of every request the calls made (invite,
	// accept, hangup): sent → reply received, measured by the client, so
	// an upper bound of the server's time per request. Requests has the
	// same per request type.
	Signaling Percentiles            `json:"signaling"`
	Requests  map[string]Percentiles `json:"requests"`
	// Setup is invite sent → the call connected at both sides (callBegan
	// pushes; with media, onCallBegin events). AudioSetup (media only) is
	// invite sent → the first audio packet received at both sides.
	Setup      Percentiles  `json:"setup"`
	AudioSetup *Percentiles `json:"audioSetup,omitempty"`

	Audio *AudioHealth `json:"audio,omitempty"`

	// Process is this load generator; ServerProcess the call server when
	// its pid was given. Both are nil without /proc.
	Process       *ProcessStats `json:"process,omitempty"`
	ServerProcess *ProcessStats `json:"serverProcess,omitempty"`

	// CPUs is the number of CPUs this machine has, MachineBusy the share
	// of all their time that was busy while the calls ran (every process,
	// in percent; -1 unknown), and LoadAvg the 1-minute load average when
	// the calls started and when they ended. On a shared machine, the
	// others' work shows there and explains stray figures.
	CPUs        int        `json:"cpus"`
	MachineBusy float64    `json:"machineBusyPercent"`
	LoadAvg     [2]float64 `json:"loadAvg,omitempty"`

	Warnings []string `json:"warnings,omitempty"`
}

// Percentiles summarise a set of durations, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Ms"`
	P95 float64 `json:"p95Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

// PercentilesOf computes nearest-rank percentiles of d (which it sorts).
func PercentilesOf(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		i = max(0, min(i, len(d)-1))
		return ms(d[i])
	}
	return Percentiles{N: len(d), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ProcessStats are one process's CPU and memory during a load test.
type ProcessStats struct {
	PID int `json:"pid,omitempty"`
	// CPUPercent is the CPU the process used while calls ran (first invite
	// to last call's end), in percent of one core.
	CPUPercent float64 `json:"cpuPercent"`
	// RSSLoggedInMB is the resident memory once every user was logged in,
	// before the calls; RSSPeakMB the most seen during the whole test.
	RSSLoggedInMB float64 `json:"rssLoggedInMB"`
	RSSPeakMB     float64 `json:"rssPeakMB"`
}

// AudioHealth sums what the receivers saw in media calls: for each call,
// each side's jitter buffer statistics for the other's stream, taken just
// before the hangup. On loopback nothing is lost, so every concealed frame
// is a receiver underrun: audio that was not there when the playout needed
// it (late, or held up in the sender).
type AudioHealth struct {
	Calls int `json:"calls"` // calls whose audio was measured
	// Received, Lost, FECRecovered, Late, Concealed and DecodeErrors are
	// audio.RemoteStats summed over both directions of every call.
	Received     uint64 `json:"received"`
	Lost         uint64 `json:"lost"`
	FECRecovered uint64 `json:"fecRecovered"`
	Late         uint64 `json:"late"`
	Concealed    uint64 `json:"concealed"`
	DecodeErrors uint64 `json:"decodeErrors"`
	// CallsWithoutAudio had no packet arrive at one side within the hold.
	CallsWithoutAudio int `json:"callsWithoutAudio"`
}

// OK reports whether every user logged in, every call was placed and
// completed, and (with media) every call had audio and no receiver had to
// conceal a frame.
func (r *Report) OK() bool { return r.Problems() == "" }

// Problems says in one line what was not OK, or "" when all was.
func (r *Report) Problems() string {
	var p []string
	if r.LoginFailed > 0 {
		p = append(p, fmt.Sprintf("%d of %d logins failed", r.LoginFailed, r.Users))
	}
	if r.Failed > 0 {
		p = append(p, fmt.Sprintf("%d of %d calls failed", r.Failed, r.Attempted))
	}
	if r.NotPlaced > 0 {
		p = append(p, fmt.Sprintf("%d calls not placed (every pair busy)", r.NotPlaced))
	}
	if a := r.Audio; a != nil {
		if a.CallsWithoutAudio > 0 {
			p = append(p, fmt.Sprintf("%d calls without audio", a.CallsWithoutAudio))
		}
		if a.Concealed > 0 {
			p = append(p, fmt.Sprintf("%d frames concealed at the receivers", a.Concealed))
		}
	}
	return strings.Join(p, ", ")
}

// WriteTable prints the report as an aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	kind := "signaling only"
	if r.Media {
		kind = "with media (WebRTC audio through real engines)"
	}
	fmt.Fprintf(w, "softphone loadtest: %s, %d users in %d pairs, %s\n", r.Server, r.Users, r.Pairs, kind)
	fmt.Fprintf(w, "offered %.6g calls/s for %s (open loop), each call held %s\n",
		r.OfferedRate, secs(r.Duration), secs(r.HoldSec))
	fmt.Fprintf(w, "machine: %d CPUs, %s busy while calling (every process); load average %.2f when the calls started, %.2f when they ended\n\n",
		r.CPUs, busyStr(r.MachineBusy), r.LoadAvg[0], r.LoadAvg[1])
	row("logins", fmt.Sprintf("%d ok, %d failed in %s", r.LoggedIn, r.LoginFailed, secs(r.LoginSec)), pct(r.Login))
	row("calls", fmt.Sprintf("%d attempted, %d completed, %d failed, %d not placed", r.Attempted, r.Completed, r.Failed, r.NotPlaced))
	row("rate", fmt.Sprintf("%.1f calls/s completed", r.AchievedRate), fmt.Sprintf("peak %d calls at once", r.PeakConcurrent))
	row("signaling", fmt.Sprintf("%d requests, round trip", r.Signaling.N), pct(r.Signaling))
	for _, k := range slices.Sorted(maps.Keys(r.Requests)) {
		row("  "+k, fmt.Sprintf("%d", r.Requests[k].N), pct(r.Requests[k]))
	}
	setupWhat := "invite → callBegan at both sides"
	if r.Media {
		setupWhat = "invite → onCallBegin at both sides"
	}
	row("setup", setupWhat, pct(r.Setup))
	if r.AudioSetup != nil {
		row("audio setup", "invite → first audio at both sides", pct(*r.AudioSetup))
	}
	if a := r.Audio; a != nil {
		row("audio", fmt.Sprintf("%d calls: %d packets received, %d lost (%d recovered by FEC), %d late",
			a.Calls, a.Received, a.Lost, a.FECRecovered, a.Late))
		row("", fmt.Sprintf("%d frames concealed (receiver underruns), %d decode errors, %d calls without audio",
			a.Concealed, a.DecodeErrors, a.CallsWithoutAudio))
	}
	if p := r.Process; p != nil {
		row("loadtest process", fmt.Sprintf("CPU %.0f%% of one core", p.CPUPercent),
			fmt.Sprintf("RSS %.0f MB logged in, peak %.0f MB", p.RSSLoggedInMB, p.RSSPeakMB))
	}
	if p := r.ServerProcess; p != nil {
		row(fmt.Sprintf("server (pid %d)", p.PID), fmt.Sprintf("CPU %.0f%% of one core", p.CPUPercent),
			fmt.Sprintf("RSS %.0f MB logged in, peak %.0f MB", p.RSSLoggedInMB, p.RSSPeakMB))
	}
	if len(r.FailedBy) > 0 {
		row("failures", "")
		reasons := slices.Sorted(maps.Keys(r.FailedBy))
		slices.SortStableFunc(reasons, func(a, b string) int { return r.FailedBy[b] - r.FailedBy[a] })
		for _, k := range reasons {
			row("", fmt.Sprintf("%6d  %s", r.FailedBy[k], k))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Warnings {
		if _, err := fmt.Fprintln(w, "warning:", s); err != nil {
			return err
		}
	}
	return nil
}

func pct(p Percentiles) string {
	if p.N == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s", msStr(p.P50), msStr(p.P95), msStr(p.P99), msStr(p.Max))
}

func msStr(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func busyStr(p float64) string {
	if p < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f%%", p)
}
