package headless

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"softphone/engine"
)

// Command is one line of the headless interface, parsed.
type Command struct {
	// Name is call, accept, reject, hangup, invite, join, switch, mute,
	// unmute or quit.
	Name string
	// Users are the invitees of call and invite.
	Users []string
	// Params are call's options.
	Params engine.CallParams
	// CallID is join's argument.
	CallID string
	// Media is switch's argument.
	Media engine.MediaType
}

// ErrEmptyCommand is returned for a blank line (to be ignored).
var ErrEmptyCommand = errors.New("empty command")

// maxCommandLine caps one headless command line.
const maxCommandLine = 64 << 10

// Limits are what the server allows, from its login reply: the user ids
// of calls and invitations are checked against them.
type Limits struct {
	// Self is the logged-in user, who cannot be called.
	Self string
	// MaxCallSize is the most people in one call, the caller included.
	MaxCallSize int
}

// ParseCommand parses one headless command line:
//
//	call USER... [--video] [--group GID] [--timeout SEC] [--user-data TEXT]
//	accept | reject | hangup | mute | unmute | quit
//	invite USER...
//	join CALLID
//	switch voice|video
//
// Arguments may be quoted with "..." or '...' (so --user-data can hold
// spaces); a backslash escapes the next character outside single quotes.
// USER... are read by engine.ParseDial, as the TUI's dial prompt reads
// them: ids may also be separated by commas.
func ParseCommand(line string, lim Limits) (Command, error) {
	if len(line) > maxCommandLine {
		return Command{}, fmt.Errorf("command line longer than %d bytes", maxCommandLine)
	}
	words, err := splitWords(line)
	if err != nil {
		return Command{}, err
	}
	if len(words) == 0 {
		return Command{}, ErrEmptyCommand
	}
	c := Command{Name: words[0]}
	args := words[1:]
	switch c.Name {
	case "accept", "reject", "hangup", "mute", "unmute", "quit":
		if len(args) > 0 {
			return c, fmt.Errorf("%s takes no arguments", c.Name)
		}
	case "call":
		var dial []string
		for i := 0; i < len(args); i++ {
			a := args[i]
			name, val, hasVal := strings.Cut(a, "=")
			needVal := func() (string, error) {
				if hasVal {
					return val, nil
				}
				if i+1 >= len(args) {
					return "", fmt.Errorf("call: %s needs a value", name)
				}
				i++
				return args[i], nil
			}
			switch name {
			case "--group":
				if c.Params.GroupID, err = needVal(); err != nil {
					return c, err
				}
			case "--user-data":
				if c.Params.UserData, err = needVal(); err != nil {
					return c, err
				}
			case "--timeout":
				v, err := needVal()
				if err != nil {
					return c, err
				}
				sec, err := strconv.Atoi(v)
				if err != nil || sec < 1 || sec > 600 {
					return c, fmt.Errorf("call: --timeout %q: want whole seconds from 1 to 600", v)
				}
				c.Params.Timeout = time.Duration(sec) * time.Second
			default:
				dial = append(dial, a) // ids, --video, --voice
			}
		}
		d, err := engine.ParseDial(dial, lim.Self, lim.MaxCallSize)
		if err != nil {
			return c, fmt.Errorf("call: %w", err)
		}
		c.Users, c.Params.MediaType = d.Users, d.Media
	case "invite":
		d, err := engine.ParseDial(args, lim.Self, lim.MaxCallSize)
		if err == nil && d.MediaSet {
			err = errors.New("the media type belongs to the whole call: use switch")
		}
		if err != nil {
			return c, fmt.Errorf("invite: %w", err)
		}
		c.Users = d.Users
	case "join":
		if len(args) != 1 {
			return c, errors.New("join: give exactly one call id")
		}
		c.CallID = args[0]
	case "switch":
		if len(args) != 1 {
			return c, errors.New("switch: give voice or video")
		}
		if c.Media, err = engine.ParseMediaType(args[0]); err != nil {
			return c, fmt.Errorf("switch: %w", err)
		}
	default:
		return c, fmt.Errorf("unknown command %q (want call, accept, reject, hangup, invite, join, switch, mute, unmute, quit)", c.Name)
	}
	return c, nil
}

// splitWords splits a line into words, honouring quotes and backslashes.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if escaped {
		return nil, errors.New("line ends in a backslash")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
