package audio

import "math"

// Level meters.
//
// A level is the RMS of one 20 ms frame in dBFS, mapped linearly onto 0–100:
//
//	level = round(100 × (dBFS + 60) / 60), clamped to 0..100
//
// dBFS follows AES17: a full-scale sine reads 0 dBFS (the RMS is referenced
// to the RMS of a full-scale sine, 32767/√2), so a full-scale sine reads 100
// and a full-scale square wave, at +3 dBFS, is clamped to 100. Anything at or
// below -60 dBFS (digital silence, a quiet room through a decent mic) reads 0.
// Each 10 dB is about 17 points: speech at a normal distance from a mic sits
// around -42 to -24 dBFS, which reads 30–60; a 440 Hz test tone at amplitude
// 0.25 (-12 dBFS) reads 80. The reference event interface calls a user
// "speaking" above 10, that is above about -54 dBFS.

const (
	// levelFloorDB is the dBFS that maps to level 0.
	levelFloorDB = -60.0
	// fullScaleSineRMS is the RMS of a full-scale sine, the AES17 0 dBFS.
	fullScaleSineRMS = 32767 / math.Sqrt2
)

// DBFS returns the RMS level of pcm in dBFS (AES17, full-scale sine = 0). It
// returns -Inf for digital silence or an empty buffer.
func DBFS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return math.Inf(-1)
	}
	var sum int64
	for _, s := range pcm {
		v := int64(s)
		sum += v * v
	}
	if sum == 0 {
		return math.Inf(-1)
	}
	rms := math.Sqrt(float64(sum) / float64(len(pcm)))
	return 20 * math.Log10(rms/fullScaleSineRMS)
}

// Level returns the 0–100 meter reading of pcm (see the mapping above).
func Level(pcm []int16) int {
	return LevelFromDBFS(DBFS(pcm))
}

// LevelFromDBFS maps a dBFS value onto the 0–100 meter scale.
func LevelFromDBFS(db float64) int {
	if math.IsNaN(db) || db <= levelFloorDB {
		return 0
	}
	l := math.Round(100 * (db - levelFloorDB) / -levelFloorDB)
	if l > 100 {
		return 100
	}
	return int(l)
}
