package engine

import (
	"errors"
	"fmt"
	"strings"

	"softphone/signaling"
)

// MaxUserIDLen is the longest user id, in bytes.
const MaxUserIDLen = signaling.MaxUserIDLen

// ValidUserID reports whether id is a well-formed user id: 1 to
// MaxUserIDLen bytes of [A-Za-z0-9_-] (the reference call model's rule,
// the one the server applies).
func ValidUserID(id string) bool { return signaling.ValidUserID(id) }

// Dial is whom to call and how, as a person types it: user ids and the
// media type.
type Dial struct {
	// Users are the ids to invite, in the order typed, without duplicates.
	Users []string
	// Media is voice or video; MediaSet says whether --video or --voice
	// was typed (else a front end may take its own default).
	Media    MediaType
	MediaSet bool
}

// ParseDial reads what a person typed to place a call or invite people:
// user ids separated by spaces, commas or semicolons, and --video or
// --voice for the media type. It is the one parser of the TUI's dial and
// invite prompts and of the headless call and invite commands. Duplicates
// collapse; self is the user's own id, which cannot be called; maxCallSize
// is the most people in one call, the caller included (the server's, from
// the login reply: Engine.MaxCallSize). The errors say what to fix.
func ParseDial(words []string, self string, maxCallSize int) (Dial, error) {
	var d Dial
	var ids []string
	for _, w := range words {
		for _, f := range strings.FieldsFunc(w, isDialSeparator) {
			switch f {
			case "--video", "-video":
				d.Media, d.MediaSet = MediaVideo, true
			case "--voice", "-voice", "--audio", "-audio":
				d.Media, d.MediaSet = MediaVoice, true
			default:
				if strings.HasPrefix(f, "--") {
					return Dial{}, fmt.Errorf("unknown option %s (want --video or --voice)", shown(f))
				}
				ids = append(ids, f)
			}
		}
	}
	users, err := checkInvitees(ids, self, maxCallSize-1)
	if err != nil {
		return Dial{}, err
	}
	d.Users = users
	return d, nil
}

func isDialSeparator(r rune) bool {
	return r == ' ' || r == ',' || r == ';' || r == '\t' || r == '\n' || r == '\r'
}

// errNoInvitee is the error for a dial with nobody in it.
var errNoInvitee = errors.New("type the user id of who to call")

// checkInvitees validates ids and drops duplicates and blanks: at least one
// and at most room well-formed ids, not self.
func checkInvitees(ids []string, self string, room int) ([]string, error) {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		id = strings.TrimSpace(id)
		switch {
		case id == "":
			continue
		case len(id) > MaxUserIDLen:
			return nil, fmt.Errorf("%s is too long for a user id (at most %d characters)", shown(id), MaxUserIDLen)
		case !ValidUserID(id):
			return nil, fmt.Errorf("%s is not a valid user id: use letters, digits, _ and -", shown(id))
		case id == self:
			return nil, fmt.Errorf("%s is you: type someone else's user id", id)
		case seen[id]:
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, errNoInvitee
	}
	if room >= 1 && len(out) > room {
		return nil, fmt.Errorf("a call holds at most %d people: you and up to %d others", room+1, room)
	}
	return out, nil
}

// shown quotes outside text for an error message: Go-quoted, so control
// characters are escaped, and cut after MaxUserIDLen+1 runes.
func shown(s string) string {
	if r := []rune(s); len(r) > MaxUserIDLen+1 {
		s = string(r[:MaxUserIDLen+1]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
