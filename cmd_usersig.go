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
	sig, err := mintTicket(*keyFile, *appID, *user, *expire, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sig)
	return nil
}

// mintTicket signs a ticket for user with the secret key (the file, else
// $SOFTPHONE_SECRET_KEY, else the one softphone serve generated), warning
// on stderr about a key file others can read.
func mintTicket(keyFile string, appID int64, user string, life time.Duration, stderr io.Writer) (string, error) {
	key, src, err := signaling.LoadSecretKey(keyFile, os.Getenv, false)
	if err != nil {
		return "", err
	}
	if src.Warning != "" {
		fmt.Fprintln(stderr, "softphone: warning:", src.Warning)
	}
	return signaling.Sign(key, appID, user, life, time.Now())
}
