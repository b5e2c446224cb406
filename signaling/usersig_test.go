package signaling

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The known answers below were produced outside Go, by the reference Python
// algorithm of TLSSigAPIv2 (json.dumps with its ", " separators, then C zlib),
// so they also prove that a ticket from another implementation verifies here.
const (
	katKey    = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	katAppID  = 1400000000
	katUser   = "xiaojun"
	katTime   = 1600000000
	katExpire = 15552000
	katSig    = "1Z5PngDjGaufeSiPoBuxdHY7EK3JTdAjMP93S4KvV3M="
	katTicket = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFEzNPXFmekgGwyjTAPy0l2y3BNL01KDMwPynUorUjwizV29jb1CUhyzfAMsjYNNvMvCjH1tlWoBGhAzGw__"
	// The same ticket with TLS.userbuf = base64("abc").
	katUserBufSig    = "9tvdyuu11RSxrIwX0xC05oW7LdPxVnzkzBpcRT/UqfM="
	katUserBufTicket = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFEzNPXFmekgGyxLylIqS0sNDYOCK4o8yyMMKpwNTPPDzX1SAirC8qqyq5wKkoNC9EML03xtYc4oLU4tSipNA2mPDPfKUqoFADFAOxA_"
)

func TestUserSigKnownAnswer(t *testing.T) {
	now := time.Unix(katTime+100, 0)
	tk, err := VerifyTicket(katKey, katAppID, katUser, katTicket, now)
	if err != nil {
		t.Fatalf("verify reference ticket: %v", err)
	}
	if tk.Sig != katSig || tk.UserID != katUser || tk.SDKAppID != katAppID ||
		tk.Issued.Unix() != katTime || tk.Lifetime != katExpire*time.Second {
		t.Fatalf("decoded %+v", tk)
	}
	// Our signer computes the same HMAC for the same fields.
	if got := signature(katKey, tk); got != katSig {
		t.Fatalf("signature = %s, want %s", got, katSig)
	}
	// And our own ticket for the same fields carries the same signature.
	mine, err := Sign(katKey, katAppID, katUser, katExpire*time.Second, time.Unix(katTime, 0))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseTicket(mine)
	if err != nil || back.Sig != katSig {
		t.Fatalf("own ticket sig = %q (%v), want %s", back.Sig, err, katSig)
	}

	ub, err := VerifyTicket(katKey, katAppID, katUser, katUserBufTicket, now)
	if err != nil {
		t.Fatalf("verify reference ticket with userbuf: %v", err)
	}
	if ub.UserBuf != "YWJj" || ub.Sig != katUserBufSig {
		t.Fatalf("userbuf ticket decoded %+v", ub)
	}
}

// A ticket as the official JavaScript generator prints it (taken from a
// public sample app; its key is unknown): it must parse, and fail only on the
// signature.
func TestUserSigParsesOfficialGeneratorOutput(t *testing.T) {
	const official = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwimpufkGhlCZ4pTsxIKCzBQlK0MTAwMTAzNTQ3OITGpFQWZRKlDc1NTUyMDAACJakpkLFrM0MzA0Nbc0hpqSmQ402MXROKw42NjAOzHAtdCosDIyykM7Ksgl0DwtN9LIxTvNOcktpdArwivVO9JWqRYAGNEwtA__"
	tk, err := ParseTicket(official)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if tk.UserID != "demo01" || tk.Version != "2.0" || tk.SDKAppID == 0 || tk.Sig == "" {
		t.Fatalf("decoded %+v", tk)
	}
	_, err = VerifyTicket(katKey, tk.SDKAppID, "demo01", official, tk.Issued)
	if !errors.Is(err, ErrTicketSignature) {
		t.Fatalf("verify with the wrong key: %v, want ErrTicketSignature", err)
	}
}

func TestUserSigVerifyRules(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	good, err := Sign("k3y", 7, "alice", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(good)
	tampered[len(tampered)/2] ^= 1
	cases := []struct {
		name   string
		key    string
		app    int64
		user   string
		sig    string
		at     time.Time
		wantIs error
	}{
		{"valid", "k3y", 7, "alice", good, now, nil},
		{"valid at the last second", "k3y", 7, "alice", good, now.Add(time.Hour), nil},
		{"expired", "k3y", 7, "alice", good, now.Add(time.Hour + time.Second), ErrTicketExpiredAt},
		{"other key", "other", 7, "alice", good, now, ErrTicketSignature},
		{"other user", "k3y", 7, "bob", good, now, ErrTicketUser},
		{"other app", "k3y", 8, "alice", good, now, ErrTicketAppID},
		{"empty", "k3y", 7, "alice", "", now, ErrTicketMalformed},
		{"garbage", "k3y", 7, "alice", "!!!", now, ErrTicketMalformed},
		{"not zlib", "k3y", 7, "alice", "aGVsbG8_", now, ErrTicketMalformed},
		{"too long", "k3y", 7, "alice", strings.Repeat("A", maxTicketLen+1), now, ErrTicketMalformed},
		{"tampered", "k3y", 7, "alice", string(tampered), now, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyTicket(c.key, c.app, c.user, c.sig, c.at)
			if c.name == "tampered" {
				if err == nil {
					t.Fatal("a tampered ticket verified")
				}
				return
			}
			if c.wantIs == nil && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Fatalf("error %v, want %v", err, c.wantIs)
			}
		})
	}
}

func TestSignRejectsBadInput(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		key, user string
		life      time.Duration
	}{
		{"", "alice", time.Hour},
		{"k", "", time.Hour},
		{"k", "al ice", time.Hour},
		{"k", strings.Repeat("a", 33), time.Hour},
		{"k", "alice", 500 * time.Millisecond},
	} {
		if _, err := Sign(c.key, 1, c.user, c.life, now); err == nil {
			t.Errorf("Sign(%q, %q, %v) succeeded", c.key, c.user, c.life)
		}
	}
	if _, err := Sign("k", 1, strings.Repeat("a", 32), time.Second, now); err != nil {
		t.Errorf("32-byte user ID refused: %v", err)
	}
}

func TestValidUserID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "Alice_01-x": true, "": false, "é": false, "a.b": false, "a b": false,
		strings.Repeat("z", 32): true, strings.Repeat("z", 33): false,
	} {
		if ValidUserID(id) != want {
			t.Errorf("ValidUserID(%q) = %v", id, !want)
		}
	}
}

// FuzzParseTicket: parsing never panics, and whatever parses re-encodes to a
// ticket that parses to the same content.
func FuzzParseTicket(f *testing.F) {
	f.Add(katTicket)
	f.Add(katUserBufTicket)
	f.Add("")
	f.Add("eJyrVgrxCdYrSy1SslJQMtIzUNJ")
	f.Add("eJyrVkrOz0lVsjI0MjEwMjcy0FFKLUrLzEtNUbIqKSpN1VEqLU4tAgrWAgC8CwpY")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTicket(s)
		if err != nil {
			return
		}
		enc, err := tk.Encode()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", tk, err)
		}
		back, err := ParseTicket(enc)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", enc, err)
		}
		if back != tk {
			t.Fatalf("round trip changed the ticket:\n%+v\n%+v", tk, back)
		}
		_, _ = VerifyTicket("key", tk.SDKAppID, tk.UserID, s, tk.Issued)
	})
}
