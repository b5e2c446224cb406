package signaling

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// This file implements userSig login tickets in the TLSSigAPIv2 format, so a
// ticket minted by any existing generator for that format (the official Go,
// Python, Java, C#, C++ and JavaScript libraries) logs in here, and ours log
// in there.
//
// A ticket is the JSON document
//
//	{"TLS.ver":"2.0","TLS.identifier":UID,"TLS.sdkappid":APPID,
//	 "TLS.expire":SECONDS,"TLS.time":UNIX,"TLS.sig":SIG}
//
// compressed with zlib and encoded with base64 where '+', '/' and '=' are
// replaced by '*', '-' and '_'. SIG is the standard base64 of
// HMAC-SHA256(secretKey, "TLS.identifier:UID\nTLS.sdkappid:APPID\n"+
// "TLS.time:UNIX\nTLS.expire:SECONDS\n"); tickets that carry a
// "TLS.userbuf" add "TLS.userbuf:B64\n" to the signed text. A ticket is valid
// while now <= time+expire.

// MaxUserIDLen is the longest accepted user ID in bytes.
const MaxUserIDLen = 32

// maxTicketLen bounds the encoded ticket and its decompressed JSON, so a
// hostile ticket (a zip bomb) costs at most a few kilobytes of work.
const maxTicketLen = 4096

// Ticket errors. Verify wraps one of them; test with errors.Is.
var (
	// ErrTicketMalformed means the ticket is not a TLSSigAPIv2 ticket at all
	// (bad base64, zlib or JSON, or missing fields).
	ErrTicketMalformed = errors.New("userSig is malformed")
	// ErrTicketSignature means the signature does not match: the ticket was
	// minted with another secret key or was altered.
	ErrTicketSignature = errors.New("userSig signature does not match this server's secret key")
	// ErrTicketUser means the ticket belongs to another user ID.
	ErrTicketUser = errors.New("userSig was issued for another user ID")
	// ErrTicketAppID means the ticket was minted for another SDKAppID.
	ErrTicketAppID = errors.New("userSig was issued for another SDKAppID")
	// ErrTicketExpiredAt means the ticket's lifetime is over.
	ErrTicketExpiredAt = errors.New("userSig has expired")
)

// Ticket is the decoded content of a userSig.
type Ticket struct {
	// Version is "2.0" for every ticket this package accepts.
	Version string
	// UserID is the identifier the ticket was issued for.
	UserID string
	// SDKAppID is the application the ticket was issued for.
	SDKAppID int64
	// Issued is when the ticket was minted (whole seconds).
	Issued time.Time
	// Lifetime is how long after Issued the ticket stays valid.
	Lifetime time.Duration
	// UserBuf is the optional base64 "TLS.userbuf" field, kept verbatim
	// because it is part of the signed text.
	UserBuf string
	// Sig is the base64 HMAC-SHA256 signature.
	Sig string
}

// ExpiresAt is the last instant the ticket is valid.
func (t Ticket) ExpiresAt() time.Time { return t.Issued.Add(t.Lifetime) }

// ValidUserID reports whether id is 1–32 bytes of [A-Za-z0-9_-].
func ValidUserID(id string) bool {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Sign mints a userSig for userID, valid for lifetime from now. It is what
// `softphone usersig` and load generators use. The lifetime is rounded down to
// whole seconds and must be at least one second.
func Sign(secretKey string, sdkAppID int64, userID string, lifetime time.Duration, now time.Time) (string, error) {
	if secretKey == "" {
		return "", errors.New("sign userSig: the secret key is empty")
	}
	if !ValidUserID(userID) {
		return "", fmt.Errorf("sign userSig: user ID %q must be 1-%d characters of A-Z a-z 0-9 _ -", userID, MaxUserIDLen)
	}
	expire := int64(lifetime / time.Second)
	if expire < 1 {
		return "", fmt.Errorf("sign userSig: lifetime %v is shorter than one second", lifetime)
	}
	t := Ticket{
		Version:  "2.0",
		UserID:   userID,
		SDKAppID: sdkAppID,
		Issued:   time.Unix(now.Unix(), 0),
		Lifetime: time.Duration(expire) * time.Second,
	}
	t.Sig = signature(secretKey, t)
	return t.Encode()
}

// Encode renders the ticket in the TLSSigAPIv2 wire form. It does not sign:
// Sig is written as it is.
func (t Ticket) Encode() (string, error) {
	doc := ticketJSON{
		Ver:        t.Version,
		Identifier: t.UserID,
		SDKAppID:   jsonInt(t.SDKAppID),
		Expire:     jsonInt(int64(t.Lifetime / time.Second)),
		Time:       jsonInt(t.Issued.Unix()),
		UserBuf:    t.UserBuf,
		Sig:        t.Sig,
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode userSig: %w", err)
	}
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	if _, err := w.Write(raw); err != nil {
		return "", fmt.Errorf("encode userSig: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("encode userSig: %w", err)
	}
	return ticketReplacer.Replace(base64.StdEncoding.EncodeToString(z.Bytes())), nil
}

var (
	ticketReplacer   = strings.NewReplacer("+", "*", "/", "-", "=", "_")
	ticketUnreplacer = strings.NewReplacer("*", "+", "-", "/", "_", "=")
)

// ticketJSON is the ticket document. Field order matches what the reference
// generators emit (they marshal a map, so keys come out sorted).
type ticketJSON struct {
	Expire     jsonInt `json:"TLS.expire"`
	Identifier string  `json:"TLS.identifier"`
	SDKAppID   jsonInt `json:"TLS.sdkappid"`
	Sig        string  `json:"TLS.sig"`
	Time       jsonInt `json:"TLS.time"`
	UserBuf    string  `json:"TLS.userbuf,omitempty"`
	Ver        string  `json:"TLS.ver"`
}

// jsonInt is an integer that also accepts a JSON string of digits, because
// some third-party generators quote the numbers.
type jsonInt int64

func (n jsonInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(n), 10), nil
}

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*n = jsonInt(v)
	return nil
}

// ParseTicket decodes a userSig without checking its signature or lifetime.
func ParseTicket(userSig string) (Ticket, error) {
	if len(userSig) == 0 || len(userSig) > maxTicketLen {
		return Ticket{}, fmt.Errorf("%w: length %d is outside 1-%d", ErrTicketMalformed, len(userSig), maxTicketLen)
	}
	compressed, err := base64.StdEncoding.DecodeString(ticketUnreplacer.Replace(userSig))
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: base64: %v", ErrTicketMalformed, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: zlib: %v", ErrTicketMalformed, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxTicketLen+1))
	if err != nil {
		return Ticket{}, fmt.Errorf("%w: zlib: %v", ErrTicketMalformed, err)
	}
	if len(raw) > maxTicketLen {
		return Ticket{}, fmt.Errorf("%w: decompressed document is larger than %d bytes", ErrTicketMalformed, maxTicketLen)
	}
	var doc ticketJSON
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Ticket{}, fmt.Errorf("%w: json: %v", ErrTicketMalformed, err)
	}
	switch {
	case doc.Ver != "2.0":
		return Ticket{}, fmt.Errorf("%w: TLS.ver is %q, want \"2.0\"", ErrTicketMalformed, doc.Ver)
	case doc.Identifier == "":
		return Ticket{}, fmt.Errorf("%w: TLS.identifier is missing", ErrTicketMalformed)
	case doc.Sig == "":
		return Ticket{}, fmt.Errorf("%w: TLS.sig is missing", ErrTicketMalformed)
	case doc.Expire < 0 || doc.Time < 0:
		return Ticket{}, fmt.Errorf("%w: negative TLS.time or TLS.expire", ErrTicketMalformed)
	case int64(doc.Expire) > int64(100*365*24*3600) || int64(doc.Time) > 1<<40:
		// Beyond these, time arithmetic would overflow; no real ticket gets here.
		return Ticket{}, fmt.Errorf("%w: TLS.time or TLS.expire out of range", ErrTicketMalformed)
	}
	return Ticket{
		Version:  doc.Ver,
		UserID:   doc.Identifier,
		SDKAppID: int64(doc.SDKAppID),
		Issued:   time.Unix(int64(doc.Time), 0),
		Lifetime: time.Duration(doc.Expire) * time.Second,
		UserBuf:  doc.UserBuf,
		Sig:      doc.Sig,
	}, nil
}

// VerifyTicket checks that userSig is a ticket for userID and sdkAppID,
// signed with secretKey and still valid at now. The signature is compared in
// constant time.
func VerifyTicket(secretKey string, sdkAppID int64, userID, userSig string, now time.Time) (Ticket, error) {
	t, err := ParseTicket(userSig)
	if err != nil {
		return Ticket{}, err
	}
	want := signature(secretKey, t)
	if !hmac.Equal([]byte(want), []byte(t.Sig)) {
		return t, ErrTicketSignature
	}
	if t.UserID != userID {
		return t, fmt.Errorf("%w: the ticket is for %q, not %q", ErrTicketUser, t.UserID, userID)
	}
	if t.SDKAppID != sdkAppID {
		return t, fmt.Errorf("%w: the ticket is for %d, this server is %d", ErrTicketAppID, t.SDKAppID, sdkAppID)
	}
	if now.After(t.ExpiresAt()) {
		return t, fmt.Errorf("%w: it was valid until %s", ErrTicketExpiredAt, t.ExpiresAt().UTC().Format(time.RFC3339))
	}
	return t, nil
}

// signature computes the TLSSigAPIv2 HMAC over the ticket's fields.
func signature(secretKey string, t Ticket) string {
	var b []byte
	b = append(b, "TLS.identifier:"...)
	b = append(b, t.UserID...)
	b = append(b, "\nTLS.sdkappid:"...)
	b = strconv.AppendInt(b, t.SDKAppID, 10)
	b = append(b, "\nTLS.time:"...)
	b = strconv.AppendInt(b, t.Issued.Unix(), 10)
	b = append(b, "\nTLS.expire:"...)
	b = strconv.AppendInt(b, int64(t.Lifetime/time.Second), 10)
	b = append(b, '\n')
	if t.UserBuf != "" {
		b = append(b, "TLS.userbuf:"...)
		b = append(b, t.UserBuf...)
		b = append(b, '\n')
	}
	h := hmac.New(sha256.New, []byte(secretKey))
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
