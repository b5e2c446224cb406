package engine_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	. "softphone/engine"
)

func TestParseDial(t *testing.T) {
	for _, tc := range []struct {
		words []string
		max   int
		want  Dial
		err   string // part of the error; "" for none
	}{
		{[]string{"bob"}, 9, Dial{Users: []string{"bob"}}, ""},
		{[]string{"bob, carol;dave"}, 9, Dial{Users: []string{"bob", "carol", "dave"}}, ""},
		{[]string{"bob", "--video", "carol"}, 9, Dial{Users: []string{"bob", "carol"}, Media: MediaVideo, MediaSet: true}, ""},
		{[]string{"bob --video --voice"}, 9, Dial{Users: []string{"bob"}, Media: MediaVoice, MediaSet: true}, ""},
		{[]string{"bob bob,bob"}, 9, Dial{Users: []string{"bob"}}, ""},
		{[]string{"-bob"}, 9, Dial{Users: []string{"-bob"}}, ""},
		{[]string{"bob carol"}, 3, Dial{Users: []string{"bob", "carol"}}, ""},
		{nil, 9, Dial{}, "type the user id"},
		{[]string{" , "}, 9, Dial{}, "type the user id"},
		{[]string{"--video"}, 9, Dial{}, "type the user id"},
		{[]string{"b@d"}, 9, Dial{}, "not a valid user id"},
		{[]string{strings.Repeat("x", 33)}, 9, Dial{}, "too long"},
		{[]string{"alice"}, 9, Dial{}, "alice is you"},
		{[]string{"bob --bogus"}, 9, Dial{}, "unknown option"},
		// The limit is the server's, whatever it is.
		{[]string{"bob carol dave"}, 3, Dial{}, "at most 3 people"},
		{[]string{"a b c d e f g h i"}, 9, Dial{}, "at most 9 people"},
	} {
		got, err := ParseDial(tc.words, "alice", tc.max)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.words, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one about %q", tc.words, err, tc.err)
		case tc.err == "" && !(slices.Equal(got.Users, tc.want.Users) && got.Media == tc.want.Media && got.MediaSet == tc.want.MediaSet):
			t.Errorf("%q: %+v, want %+v", tc.words, got, tc.want)
		}
	}
}

// FuzzParseDial: whatever is typed, parsing never panics; an error says
// something and carries no control characters (front ends show it); what
// it accepts is 1 to maxCallSize-1 distinct valid ids, not the user's own,
// that parse again to the same.
func FuzzParseDial(f *testing.F) {
	for _, s := range []string{"bob", "bob carol", "bob,carol;dave", "--video bob", "alice", "", "b@d", "  ,, ",
		strings.Repeat("x", 33), "a b c d e f g h i", "bob\x1b[31m", "ünï", "-bob --voice", "--x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		d, err := ParseDial([]string{text}, "alice", 9)
		if err != nil {
			if err.Error() == "" || strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("error %q is empty or carries control characters", err)
			}
			return
		}
		if len(d.Users) == 0 || len(d.Users) > 8 {
			t.Fatalf("accepted %d ids", len(d.Users))
		}
		for i, id := range d.Users {
			if !ValidUserID(id) || id == "alice" || slices.Contains(d.Users[:i], id) {
				t.Fatalf("accepted id %q in %q", id, d.Users)
			}
		}
		again, err := ParseDial(d.Users, "alice", 9)
		if err != nil || !slices.Equal(again.Users, d.Users) {
			t.Fatalf("%q re-parses to %q, %v", d.Users, again.Users, err)
		}
	})
}
