package testenv

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NATSNodes runs n embedded NATS servers of one softphone cluster (named
// name, routes on loopback), each in a process of its own (the natsnode
// command, built for the test without the race detector), and returns
// their client URLs. Call servers join them as `softphone serve --nats
// URL` does. The nodes stop when the test ends, or die with the test
// process.
func NATSNodes(t testing.TB, n int, name, secretKey string) []string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "natsnode")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, "softphone/internal/natsnode").CombinedOutput(); err != nil {
		t.Fatalf("build natsnode: %v\n%s", err, out)
	}
	var addrs, routes []string
	for range n {
		a := FreeAddr(t)
		addrs = append(addrs, a)
		routes = append(routes, "nats://"+a)
	}
	type started struct {
		url string
		err error
	}
	results := make([]chan started, n)
	for i := range n {
		var logs Buffer
		cmd := exec.Command(bin, "--name", name, "--cluster-listen", addrs[i], "--routes", strings.Join(routes, ","),
			"--store", filepath.Join(dir, fmt.Sprintf("store%d", i)), fmt.Sprintf("--debug=%v", os.Getenv("SOFTPHONE_TEST_LOG") != ""))
		cmd.Env = append(os.Environ(), "SOFTPHONE_SECRET_KEY="+secretKey)
		cmd.Stderr = &logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start natsnode: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			stdin.Close()
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("NATS node %d: %v\n%s", i, err, logs.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Errorf("NATS node %d did not stop in 30 s\n%s", i, logs.String())
			}
		})
		results[i] = make(chan started, 1)
		go func() {
			r := bufio.NewReader(stdout)
			line, err := r.ReadString('\n')
			if err != nil {
				err = fmt.Errorf("%v\n%s", err, logs.String())
			}
			results[i] <- started{strings.TrimSpace(line), err}
			_, _ = io.Copy(io.Discard, r)
		}()
	}
	urls := make([]string, n)
	for i, ch := range results {
		select {
		case r := <-ch:
			if r.err != nil || !strings.HasPrefix(r.url, "nats://") {
				t.Fatalf("NATS node %d: %q %v", i, r.url, r.err)
			}
			urls[i] = r.url
		case <-time.After(90 * time.Second):
			t.Fatalf("NATS node %d: not up in 90 s", i)
		}
	}
	return urls
}
