package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"softphone/signaling"
)

func cmdUsersig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("usersig", "softphone usersig --user ID [flags]", stderr)
	user := fs.String("user", "", "user ID the ticket is for (1-32 of A-Z a-z 0-9 _ -)")
	expire := fs.Duration("expire", 168*time.Hour, "how long the ticket stays valid")
	appID := fs.Int64("sdk-app-id", signaling.DefaultSDKAppID, "SDKAppID of the server")
	keyFile := fs.String("secret-key-file", "", "file holding the secret key (default: $"+signaling.SecretKeyEnv+", else the key that softphone serve generated)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *user == "" {
		fmt.Fprintln(stderr, "--user is required")
		fs.Usage()
		return errUsage
	}
	key, src, err := signaling.LoadSecretKey(*keyFile, os.Getenv, false)
	if err != nil {
		return err
	}
	if src.Warning != "" {
		fmt.Fprintln(stderr, "softphone: warning:", src.Warning)
	}
	sig, err := signaling.Sign(key, *appID, *user, *expire, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sig)
	return nil
}
