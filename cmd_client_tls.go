package main

import (
	"flag"
	"os"

	"softphone/engine"
	"softphone/internal/tlscert"
)

// addTLSFingerprintFlag adds --tls-fingerprint: how a terminal client
// trusts a server that runs with --tls-self-signed.
func addTLSFingerprintFlag(fs *flag.FlagSet, fp *string) {
	fs.StringVar(fp, "tls-fingerprint", os.Getenv("SOFTPHONE_TLS_FINGERPRINT"), "trust the wss:// server whose certificate has this SHA-256 `fingerprint` (as softphone serve --tls-self-signed prints it) instead of asking a certificate authority (env SOFTPHONE_TLS_FINGERPRINT)")
}

// pinServer makes the engine accept only the server certificate with the
// fingerprint given, when one is.
func (c *clientFlags) pinServer(cfg *engine.Config) error {
	if c.tlsFingerprint == "" {
		return nil
	}
	hc, err := tlscert.PinnedClient(c.tlsFingerprint)
	if err != nil {
		return err
	}
	cfg.HTTPClient = hc
	return nil
}
