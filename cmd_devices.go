package main

import (
	"io"
	"os"

	"softphone/audio"
)

func cmdDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softphone devices", "softphone devices", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	host, _ := os.Hostname()
	return audio.WriteDeviceList(stdout, audio.ListDevices(nil, nil), audio.FindSoundPlace(os.Getenv, host))
}
