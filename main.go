// Command softphone is a keyboard-driven voice calling app for the terminal,
// with its call server in the same binary.
//
// main only parses flags and wires packages together: signaling (protocol,
// server, client), audio (devices, codec, buffers), engine (calls), the two
// front ends (tui, headless) and the tools under internal/. Each subcommand
// has its own file: cmd_serve.go, cmd_usersig.go, cmd_devices.go,
// cmd_demo.go, cmd_loadtest.go and cmd_client.go (the phone itself).
package main

import (
	"fmt"
	"io"
	"os"

	// SOFTPHONE_TIMER_SLACK: a timer slack for every thread, for fewer
	// wake-ups in a call (off by default; see the package).
	_ "softphone/internal/timerslack"
)

const usage = `softphone — voice calls in the terminal

Usage:
  softphone [client flags]          the terminal phone (TUI)
  softphone --headless [flags]      the same client driven by stdin/stdout JSON
  softphone serve [flags]           run the call server
  softphone usersig --user ID       mint a login ticket (userSig)
  softphone link --user ID          a link to the web phone that logs ID in
  softphone devices                 list audio capture and playback devices
  softphone demo                    server, two bots and the TUI in one command
  softphone loadtest [flags]        drive call cycles against a server
  softphone help                    this text

Run "softphone COMMAND -h" for the flags of a command, "softphone -h" for the
client flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code: 0 ok,
// 1 failure, 2 bad usage.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := "", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "help", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		err = cmdServe(rest, stdout, stderr)
	case "usersig":
		err = cmdUsersig(rest, stdout, stderr)
	case "link":
		err = cmdLink(rest, stdout, stderr)
	case "devices":
		err = cmdDevices(rest, stdout, stderr)
	case "demo":
		err = cmdDemo(rest, stdin, stdout, stderr)
	case "loadtest":
		err = cmdLoadtest(rest, stdout, stderr)
	default:
		err = cmdClient(args, stdin, stdout, stderr)
	}
	return exitCode(err, stderr)
}
