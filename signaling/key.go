package signaling

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretKeyEnv is the environment variable that holds the secret key when no
// key file is given.
const SecretKeyEnv = "SOFTPHONE_SECRET_KEY"

// DefaultSDKAppID is the SDKAppID that `softphone serve` and `softphone
// usersig` use unless told otherwise. Any value works as long as the server and
// the ticket generator agree.
const DefaultSDKAppID = 1400000000

// KeySource says where a secret key came from, for messages to the operator.
// It never contains the key itself.
type KeySource struct {
	// Path is the key file, or "" when the key came from the environment.
	Path string
	// Generated is true when the key file was created just now.
	Generated bool
	// Warning is set when the key file can be read by other users; the
	// caller shows it.
	Warning string
}

func (s KeySource) String() string {
	switch {
	case s.Path == "":
		return "$" + SecretKeyEnv
	case s.Generated:
		return "new key file " + s.Path
	}
	return "key file " + s.Path
}

// DefaultKeyPath is where `softphone serve` keeps the key it generates:
// softphone/secret.key in the user's configuration directory
// (~/.config/softphone/secret.key on Linux).
func DefaultKeyPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory for the secret key: %w (pass --secret-key-file or set %s)", err, SecretKeyEnv)
	}
	return filepath.Join(dir, "softphone", "secret.key"), nil
}

// LoadSecretKey finds the secret key in this order: the file at path (when
// path is not ""), else the SOFTPHONE_SECRET_KEY environment variable (read
// through getenv), else the file at DefaultKeyPath. When that default file does
// not exist and generate is true, a fresh random key is written there with mode
// 0600 and the returned source says Generated; the caller announces that on
// stderr. The key is returned as the caller must use it (surrounding
// whitespace trimmed) and is never part of an error message.
func LoadSecretKey(path string, getenv func(string) string, generate bool) (string, KeySource, error) {
	if path != "" {
		key, err := readKeyFile(path)
		return key, KeySource{Path: path, Warning: keyFileWarning(path)}, err
	}
	if getenv != nil {
		if v := strings.TrimSpace(getenv(SecretKeyEnv)); v != "" {
			return v, KeySource{}, nil
		}
	}
	def, err := DefaultKeyPath()
	if err != nil {
		return "", KeySource{}, err
	}
	key, err := readKeyFile(def)
	if err == nil {
		return key, KeySource{Path: def, Warning: keyFileWarning(def)}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", KeySource{Path: def}, err
	}
	if !generate {
		return "", KeySource{Path: def}, fmt.Errorf("no secret key: %s does not exist; run `softphone serve` once to generate it, or pass --secret-key-file, or set %s", def, SecretKeyEnv)
	}
	key, err = GenerateKeyFile(def)
	return key, KeySource{Path: def, Generated: err == nil}, err
}

// GenerateKeyFile writes a new random 256-bit key, hex encoded, to path with
// mode 0600 (its directory 0700). It refuses to overwrite an existing file.
func GenerateKeyFile(path string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create the directory for the secret key: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate a secret key: %w", err)
	}
	key := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write secret key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write secret key file %s: %w", path, err)
	}
	return key, nil
}

func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret key file: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("secret key file %s is empty: put the key on its first line", path)
	}
	if strings.ContainsAny(key, "\r\n") {
		return "", fmt.Errorf("secret key file %s has more than one line: keep only the key", path)
	}
	return key, nil
}

// keyFileWarning returns a warning when others may read the key file.
func keyFileWarning(path string) string {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return ""
	}
	return fmt.Sprintf("secret key file %s is readable by other users (mode %04o); run: chmod 600 %s", path, st.Mode().Perm(), path)
}

// NewSecretKey returns a fresh random key (256 bits, hex encoded), for an
// in-process server such as `softphone demo` that needs no key file.
func NewSecretKey() string {
	var raw [32]byte
	rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}
