package signaling

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSecretKeyOrder(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	def := filepath.Join(home, "softphone", "secret.key")
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	// Nothing anywhere, not allowed to generate: a clear error.
	if _, _, err := LoadSecretKey("", getenv, false); err == nil || !strings.Contains(err.Error(), "softphone serve") {
		t.Fatalf("want a hint to run serve, got %v", err)
	}
	// Generate: a 0600 file with a 64-hex-digit key.
	key, src, err := LoadSecretKey("", getenv, true)
	if err != nil || !src.Generated || src.Path != def || len(key) != 64 {
		t.Fatalf("generate: %q %+v %v", key, src, err)
	}
	st, err := os.Stat(def)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", st.Mode(), err)
	}
	if strings.Contains(src.String(), key) {
		t.Fatal("the key source description contains the key")
	}
	// Second run reads the same file.
	again, src2, err := LoadSecretKey("", getenv, true)
	if err != nil || again != key || src2.Generated {
		t.Fatalf("reload: %v %+v", err, src2)
	}
	// The environment wins over the default file.
	env[SecretKeyEnv] = "  from-env \n"
	if k, src, err := LoadSecretKey("", getenv, true); err != nil || k != "from-env" || src.Path != "" {
		t.Fatalf("env: %q %+v %v", k, src, err)
	}
	// An explicit file wins over everything, and a loose mode is warned about.
	p := filepath.Join(t.TempDir(), "k")
	os.WriteFile(p, []byte("explicit\n"), 0o644)
	k, src, err := LoadSecretKey(p, getenv, true)
	if err != nil || k != "explicit" || src.Warning == "" {
		t.Fatalf("explicit: %q %+v %v", k, src, err)
	}
	// Empty and missing explicit files are errors that name the file.
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, _, err := LoadSecretKey(p, getenv, true); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("empty file: %v", err)
	}
	if _, _, err := LoadSecretKey(p+"-missing", getenv, true); err == nil {
		t.Fatal("missing explicit file accepted")
	}
}
