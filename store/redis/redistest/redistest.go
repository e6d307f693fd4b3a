// Package redistest gives tests a real Redis server, never a fake: the
// shared one on 127.0.0.1:6379 when it answers (each test under a random
// key prefix of its own, its keys deleted when the test ends), else a
// redis-server the test starts on a free port and kills when it ends. For
// outage tests, StartOwn always starts a server of the test's own, with
// persistence, that the test may kill and start again.
//
// redis-server must be on PATH (Debian's redis-server package; .ci/run
// installs it when missing).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// SharedAddr is the development machines' Redis.
const SharedAddr = "127.0.0.1:6379"

// Server is a Redis server a test uses.
type Server struct {
	// Addr is host:port.
	Addr string
	// Prefix is a key prefix unique to this Start.
	Prefix string

	t      testing.TB
	args   []string // redis-server arguments; nil for the shared server
	dir    string
	proc   *os.Process // the running redis-server, nil if none
	exited chan error  // receives its exit once it ends
}

// Options returns client options for the server with short timeouts, so
// that a test of an outage does not wait long for each failing call.
func (s *Server) Options() *goredis.Options {
	return &goredis.Options{
		Addr: s.Addr, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		DialerRetries: 2, DialerRetryTimeout: 20 * time.Millisecond, PoolSize: 16,
	}
}

// Start returns a server for t: the shared one if it answers PING, else a
// redis-server of t's own (no persistence) on a free port. Either way the
// keys under the returned Prefix are deleted when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{Addr: SharedAddr, Prefix: NewPrefix(t), t: t}
	if !answers(SharedAddr, 500*time.Millisecond) {
		s.args = []string{"--save", "", "--appendonly", "no"}
		s.startOnFreePort()
	}
	t.Cleanup(func() { s.deleteKeys() })
	return s
}

// StartOwn starts a redis-server of t's own on a free port that keeps
// every acknowledged write on disk (appendonly yes, appendfsync always, in
// a temporary directory), so that Stop and Start lose nothing acknowledged.
// It is killed when t ends.
func StartOwn(t testing.TB) *Server {
	t.Helper()
	s := &Server{Prefix: NewPrefix(t), t: t,
		args: []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}}
	s.startOnFreePort()
	return s
}

// NewPrefix returns a random key prefix for one test.
func NewPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "procurebot-test-" + hex.EncodeToString(b)
}

// Stop kills the server (SIGKILL) and waits until it is gone.
func (s *Server) Stop() {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatal("redistest: Stop on a server the test did not start or already stopped")
	}
	s.kill()
}

// kill kills the running redis-server and waits for it.
func (s *Server) kill() {
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// Restart starts the server again on the same port with the same
// directory, after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	if s.proc != nil {
		s.t.Fatal("redistest: Restart while the server runs")
	}
	if err := s.run(); err != nil {
		s.t.Fatalf("redistest: restart redis-server on %s: %v", s.Addr, err)
	}
}

// startOnFreePort starts redis-server on a port that was free a moment
// ago, trying again if another process takes it first.
func (s *Server) startOnFreePort() {
	s.t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		s.t.Fatalf("redistest: nothing answers on %s and redis-server is not installed (Debian: apt-get install redis-server): %v", SharedAddr, err)
	}
	s.dir = s.t.TempDir()
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.run(); err == nil {
			s.t.Cleanup(s.kill)
			return
		}
	}
	s.t.Fatalf("redistest: start redis-server: %v", err)
}

// run starts redis-server on s.Addr and waits until it answers PING.
func (s *Server) run() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	logPath := filepath.Join(s.dir, "redis.log")
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--logfile", logPath,
		"--daemonize", "no"}, s.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("redis-server on %s exited: %v; log:\n%s", s.Addr, err, tail(log))
		default:
		}
		if answers(s.Addr, 200*time.Millisecond) {
			s.proc, s.exited = cmd.Process, exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on %s did not answer within 10 s", s.Addr)
}

// answers reports whether a Redis server at addr answers PING (and is not
// loading its data). It dials first, so that go-redis does not log a
// failed dial while a server starts.
func answers(addr string, timeout time.Duration) bool {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	_ = conn.Close()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout,
		WriteTimeout: timeout, MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}

// deleteKeys deletes every key under s.Prefix.
func (s *Server) deleteKeys() {
	if s.args != nil {
		return // a server of the test's own: it goes with the test
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, s.Prefix+":*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				s.t.Errorf("redistest: delete keys under %s on %s: %v", s.Prefix, s.Addr, err)
			}
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			flush()
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		s.t.Errorf("redistest: scan keys under %s on %s: %v", s.Prefix, s.Addr, err)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
