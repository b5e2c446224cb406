// Package voice cleans a microphone before it is sent: acoustic echo
// cancellation, noise suppression and automatic gain control, in pure Go,
// on 20 ms frames of 48 kHz mono int16 (Processor.Process(near, far)).
//
// The design follows what WebRTC's audio processing does at 48 kHz: the
// work happens on a 16 kHz low band (0–7 kHz, where speech and laptop
// loudspeakers live), and the band above gets one gain per 10 ms taken
// from the low band's (bands.go; the split is complementary, so with
// nothing to do the output is the input, delayed). In the low band:
//
//   - mdf.go: the linear echo canceller, a partitioned-block
//     frequency-domain adaptive filter (the multidelay filter of Soo and
//     Pang, 1990, alternately updated) with speexdsp's learning-rate
//     control (Valin, IEEE TASLP 15(3), 2007: the step in each bin is the
//     estimated residual echo over the error, which double talk drives
//     down) and two paths (a foreground filter makes the output, a
//     background one adapts and replaces it only when it does better).
//     200 ms of filter, 20 ms blocks.
//   - delay.go, aec.go: a GCC-PHAT delay estimator over 0–320 ms that
//     aligns the filter 40 ms before the echo's strongest arrival (160 ms of
//     tail after it), follows a changed delay to the sample by comparing
//     the echo path's signature with the one taken at the last alignment,
//     and moves the filter's impulse response with the alignment, or not,
//     whichever explains the microphone better (a jump leaves the path as
//     it was; drift has been followed by the filter already).
//   - postfilter.go: one short-time spectrum (20 ms windows every 10 ms)
//     where stationary noise (minimum statistics over 0.8 s) and residual
//     echo (per-band regressions of the output on the echo estimate and on
//     the far end, and the output's coherence with the far end) are taken
//     out with one decision-directed Wiener gain, each with its own floor.
//   - agc.go: gain toward -20 dBFS, learnt from near-end speech only (not
//     from noise, silence or echo), and a 1 ms look-ahead limiter at
//     -1 dBFS.
//
// fft.go holds the FFTs (mixed radix 2, 3, 4 and 5, Stockham autosort,
// float32). Nothing allocates after New.
//
// The tests measure the targets (ERLE, double talk, noise, gain,
// cost) on espeak-ng speech through a simulated room; harness_test.go
// tells the parts of an output apart by replaying the processor's gains on
// each part of the input alone.
package voice
