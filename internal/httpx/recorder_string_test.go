package httpx

import (
	"io"
	"net/http/httptest"
	"testing"
)

type stringWriter struct {
	*httptest.ResponseRecorder
	viaString int
}

func (w *stringWriter) WriteString(s string) (int, error) {
	w.viaString++
	return w.ResponseRecorder.WriteString(s)
}

func TestRecorderWriteString(t *testing.T) {
	w := &stringWriter{ResponseRecorder: httptest.NewRecorder()}
	var r Recorder
	r.Reset(w)
	n, err := io.WriteString(&r, "hello")
	if n != 5 || err != nil || r.Status != 200 || r.Bytes != 5 || w.viaString != 1 || w.Body.String() != "hello" {
		t.Errorf("io.WriteString(Recorder) = %d, %v; status %d bytes %d viaString %d body %q, want 5 bytes through WriteString",
			n, err, r.Status, r.Bytes, w.viaString, w.Body.String())
	}
	allocs := testing.AllocsPerRun(100, func() { _, _ = io.WriteString(&r, "hello") })
	if allocs != 0 {
		t.Errorf("io.WriteString through a Recorder allocs = %v, want 0", allocs)
	}
}
