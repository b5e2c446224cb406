package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Command is one line of the headless interface, parsed.
type Command struct {
	// Name is call, accept, reject, hangup, invite, join, switch, mute,
	// unmute or quit.
	Name string
	// Users are the invitees of call and invite.
	Users []string
	// Params are call's options.
	Params CallParams
	// CallID is join's argument.
	CallID string
	// Media is switch's argument.
	Media MediaType
}

// ErrEmptyCommand is returned for a blank line (to be ignored).
var ErrEmptyCommand = errors.New("empty command")

// maxCommandLine caps one headless command line.
const maxCommandLine = 64 << 10

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
func ParseCommand(line string) (Command, error) {
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
		for i := 0; i < len(args); i++ {
			a := args[i]
			if !strings.HasPrefix(a, "--") {
				c.Users = append(c.Users, a)
				continue
			}
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
			case "--video":
				if hasVal {
					return c, errors.New("call: --video takes no value")
				}
				c.Params.MediaType = MediaVideo
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
				return c, fmt.Errorf("call: unknown option %s (want --video, --group, --timeout, --user-data)", name)
			}
		}
		if len(c.Users) == 0 {
			return c, errors.New("call: name at least one user")
		}
	case "invite":
		if len(args) == 0 {
			return c, errors.New("invite: name at least one user")
		}
		c.Users = args
	case "join":
		if len(args) != 1 {
			return c, errors.New("join: give exactly one call id")
		}
		c.CallID = args[0]
	case "switch":
		if len(args) != 1 {
			return c, errors.New("switch: give voice or video")
		}
		if c.Media, err = ParseMediaType(args[0]); err != nil {
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
