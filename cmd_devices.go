package main

import (
	"io"

	"softphone/audio"
)

func cmdDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softphone devices", "softphone devices", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return audio.WriteDeviceList(stdout, audio.ListDevices(nil, nil))
}
