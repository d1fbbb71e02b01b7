package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// timedBody is a request body that must arrive whole within a time: the
// connection's read deadline, which net/http lifts itself once the body
// has ended (to start its background read). After a timeout the expired
// deadline stays, so net/http does not wait for the rest of the body either.
type timedBody struct {
	io.ReadCloser
	w http.ResponseWriter
	d time.Duration
}

// bodyTimeout is the error of a body that did not arrive in time.
type bodyTimeout struct{ d time.Duration }

func (e *bodyTimeout) Error() string {
	return fmt.Sprintf("the request body did not arrive within %v", e.d)
}

func newTimedBody(w http.ResponseWriter, b io.ReadCloser, d time.Duration) io.ReadCloser {
	if http.NewResponseController(w).SetReadDeadline(time.Now().Add(d)) != nil {
		return b // not a connection of net/http's server
	}
	return &timedBody{ReadCloser: b, w: w, d: d}
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		b.w.Header().Set("Connection", "close") // the rest of the body would follow
		err = &bodyTimeout{b.d}
	}
	return n, err
}

// timedWriter gives each write to the client its own deadline, so that a
// client that stops reading is cut while a stream may last as long as it
// keeps sending.
type timedWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func newTimedWriter(w http.ResponseWriter, d time.Duration) *timedWriter {
	t := &timedWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
	t.extend() // not the deadline of the connection's previous request
	return t
}

func (t *timedWriter) extend() { t.rc.SetWriteDeadline(time.Now().Add(t.d)) }

func (t *timedWriter) Write(b []byte) (int, error) {
	t.extend()
	return t.ResponseWriter.Write(b)
}

// FlushError is what http.ResponseController.Flush calls.
func (t *timedWriter) FlushError() error {
	t.extend()
	return t.rc.Flush()
}

func (t *timedWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// LimitListener accepts at most n connections at a time: above that,
// Accept waits until one closes, so new clients wait in the kernel's
// backlog (their connect succeeds, their request waits) rather than
// being refused.
func LimitListener(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, free: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once sync.Once
	free func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.free)
	return err
}
