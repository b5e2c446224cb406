package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"softphone/internal/loadtest"
	"softphone/signaling"
)

// TestLoadtestCommand runs `softphone loadtest --json` against a real
// server and checks the report it prints, and the command-line errors.
func TestLoadtestCommand(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("loadtest-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := signaling.NewServer(signaling.Config{SecretKey: "loadtest-key"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	url := signaling.WebSocketURL(ln.Addr(), false)

	var out, errOut strings.Builder
	c := run([]string{"loadtest", "--server", url, "--secret-key-file", keyFile, "--users", "4",
		"--calls-per-sec", "20", "--duration", "1s", "--json", "--server-pid", "0"}, nil, &out, &errOut)
	if c != 0 {
		t.Fatalf("exit %d: %s", c, errOut.String())
	}
	var rep loadtest.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out.String())
	}
	if rep.Attempted != 20 || rep.Completed != 20 || rep.LoggedIn != 4 {
		t.Fatalf("report %+v", rep)
	}
	if st := srv.Stats(); st.CallsConnected != 20 || st.Logins != 4 {
		t.Fatalf("server counts %+v", st)
	}

	// The table goes to stdout; failures make the exit code 1.
	out.Reset()
	errOut.Reset()
	c = run([]string{"loadtest", "--server", url, "--secret-key-file", keyFile, "--users", "2",
		"--calls-per-sec", "10", "--duration", "1s", "--hold", "2s", "--log-level", "warn"}, nil, &out, &errOut)
	if c != 1 || !strings.Contains(out.String(), "9 not placed") || !strings.Contains(errOut.String(), "not placed") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", c, out.String(), errOut.String())
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"loadtest"}, 2, "--server is required"},
		{[]string{"loadtest", "--server", url, "--secret-key-file", keyFile, "extra"}, 2, "unexpected argument"},
		{[]string{"loadtest", "--server", "ws://192.0.2.1:7880/ws", "--secret-key-file", keyFile}, 1, "loopback"},
		{[]string{"loadtest", "--server", url, "--secret-key-file", filepath.Join(t.TempDir(), "none")}, 1, "secret key"},
		{[]string{"loadtest", "--server", url, "--secret-key-file", keyFile, "--users", "1"}, 1, "at least 2"},
		{[]string{"loadtest", "--server", url, "--secret-key-file", keyFile, "--log-level", "loud"}, 2, "log-level"},
	} {
		errOut.Reset()
		if c := run(tc.args, nil, io.Discard, &errOut); c != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, c, errOut.String(), tc.code, tc.want)
		}
	}
}
