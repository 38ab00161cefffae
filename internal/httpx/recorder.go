package httpx

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// Recorder wraps an http.ResponseWriter and remembers the status and the number of
// body bytes written. It keeps http.Flusher, http.Hijacker and io.ReaderFrom working
// through Unwrap, which http.ResponseController understands, and through explicit
// methods for callers that type-assert.
//
// A Recorder is not safe for concurrent use, like the ResponseWriter it wraps. Reset
// lets a middleware reuse one from a sync.Pool.
type Recorder struct {
	http.ResponseWriter
	// Status is the status written, 0 until WriteHeader or Write is called.
	Status int
	// Bytes counts the body bytes written.
	Bytes int64
}

// Reset points r at w and clears its counters.
func (r *Recorder) Reset(w http.ResponseWriter) {
	r.ResponseWriter, r.Status, r.Bytes = w, 0, 0
}

// WriteHeader records the first status and forwards it.
func (r *Recorder) WriteHeader(code int) {
	if r.Status == 0 || (r.Status >= 100 && r.Status < 200 && code >= 200) {
		r.Status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and counts bytes.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += int64(n)
	return n, err
}

// StatusOr returns the recorded status, or def when nothing was written.
func (r *Recorder) StatusOr(def int) int {
	if r.Status == 0 {
		return def
	}
	return r.Status
}

// Written reports whether the status line has been sent.
func (r *Recorder) Written() bool { return r.Status >= 200 }

// Unwrap returns the wrapped writer, for http.ResponseController.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush implements http.Flusher when the wrapped writer does.
func (r *Recorder) Flush() {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker when the wrapped writer does.
func (r *Recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := r.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, http.ErrNotSupported
}

// ReadFrom keeps sendfile working when the wrapped writer supports it.
func (r *Recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(r.ResponseWriter, src)
	}
	r.Bytes += n
	return n, err
}
