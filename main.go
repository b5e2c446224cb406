// Command softphone is a keyboard-driven voice calling app for the terminal,
// with its call server in the same binary.
//
// main only parses flags and wires packages together: signaling (protocol,
// server, client), audio (devices, codec, buffers), engine (calls) and tui.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"softphone/audio"
)

const usage = `softphone — voice calls in the terminal

Usage:
  softphone [client flags]          the terminal phone (TUI)
  softphone --headless [flags]      the same client driven by stdin/stdout JSON
  softphone serve [flags]           run the call server
  softphone usersig --user ID       mint a login ticket (userSig)
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

// errUsage marks a command-line mistake (exit code 2); the flag package has
// already printed what was wrong.
var errUsage = errors.New("usage")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "softphone:", err)
	return 1
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps flag errors to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// ---- serve -----------------------------------------------------------------

func cmdServe(args []string, stdout, stderr io.Writer) error {
	return errors.New("serve: not built yet (issue 2)")
}

// ---- usersig ---------------------------------------------------------------

func cmdUsersig(args []string, stdout, stderr io.Writer) error {
	return errors.New("usersig: not built yet (issue 2)")
}

// ---- devices ---------------------------------------------------------------

func cmdDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("softphone devices", "softphone devices", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return audio.WriteDeviceList(stdout, audio.ListDevices(nil, nil))
}

// ---- demo ------------------------------------------------------------------

func cmdDemo(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("demo: not built yet (issue 6)")
}

// ---- loadtest --------------------------------------------------------------

func cmdLoadtest(args []string, stdout, stderr io.Writer) error {
	return errors.New("loadtest: not built yet (issue 6)")
}

// ---- client (TUI and headless) ---------------------------------------------

func cmdClient(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("client: not built yet (issues 4 and 5)")
}
