package httpx

import "io"

// WriteString records an implicit 200, counts bytes, and forwards to the wrapped
// writer's WriteString when it has one (net/http's does), so that io.WriteString
// through a Recorder does not copy the string into a new []byte.
func (r *Recorder) WriteString(s string) (int, error) {
	if r.Status == 0 {
		r.Status = 200
	}
	n, err := io.WriteString(r.ResponseWriter, s)
	r.Bytes += int64(n)
	return n, err
}
